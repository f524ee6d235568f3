# attack: recursion inside C code: repr and json.dumps of a list nested a million deep
# held: RecursionError (or the stack limit), never a host crash
# expect: error RecursionError or limit stack
import json
deep = []
for _ in range(1_000_000):
    deep = [deep]
json.dumps(deep)
