# attack: a short message with a 20 MiB note: the traceback, not the message, carries the bulk
# held: the traceback is cut to the cap too
# expect: error KeyError
# max-result-bytes: 400000
e = KeyError("short")
e.add_note("n" * (20 << 20))
raise e
