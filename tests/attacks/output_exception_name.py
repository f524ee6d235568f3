# attack: an exception class with a 1 MiB name, so the error kind itself is huge
# held: the kind is cut too and the result is under the cap
# expect: any
# max-result-bytes: 400000
raise type("E" * (1 << 20), (Exception,), {})("boom")
