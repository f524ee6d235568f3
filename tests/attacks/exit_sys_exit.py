# attack: sys.exit and raise SystemExit with an object, to end the session or the server
# held: SystemExit comes back as the cell's error; the session carries on
# expect: error SystemExit
import sys
sys.exit({"code": 5})
