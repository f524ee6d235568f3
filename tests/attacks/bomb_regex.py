# attack: catastrophic regex backtracking
# held: the timeout or the fuel budget stops it
# expect: limit timeout|fuel
import re
re.match(r"(a+)+$", "a" * 64 + "b")
