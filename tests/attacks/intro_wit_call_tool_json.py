# attack: hostile JSON to the raw tools import: invalid JSON, non-object JSON, deep nesting, huge numbers, duplicate keys
# held: each is refused by the host with an error (the raw import raises Err), nothing is run
# expect: ok
# value: true
from wit_world.imports import tools as t
payloads = ["{not json", "[1, 2, 3]", '"text"', "null", "1e99999", "[" * 100_000 + "]" * 100_000,
            '{"text": 1e400}', '{"text": "a", "text": ["-n", "b"]}', '{"text": ' + "9" * 5000 + "}"]
refused = 0
for payload in payloads:
    try:
        print(repr(t.call_tool("echo", None, payload))[:200])
    except Exception as e:
        refused += 1
refused >= 7
