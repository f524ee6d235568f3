# attack: many random and clock reads in a cell (each journaled for rollback), then a busy loop, then check the state
# held: random reads are journaled by count, not by bytes; the busy loop is stopped and the state from before it restored without repeating host calls
# expect: ok
keep = "state"
# --- cell ---
# expect: ok
# value: 64
import os
import time

chunks = [os.urandom(1 << 16) for _ in range(64)]
stamps = [time.monotonic() for _ in range(20_000)]
len(chunks)
# --- cell ---
# expect: limit fuel|timeout
while True:
    pass
# --- cell ---
# expect: ok or error NameError
[keep, len(chunks), len(stamps)]
