# attack: 20 MB written to stderr
# held: stderr is cut at its cap; the result stays small
# expect: limit output
# max-result-bytes: 500000
import sys
for _ in range(20_000):
    sys.stderr.write("e" * 999 + "\n")
