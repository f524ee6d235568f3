# attack: blow the session journal (which keeps every host answer for rollback) with big artifact loads, a flood of random reads and clock readings, then a busy loop that needs a rollback
# held: the journal stops at its cap and frees what it held; the session keeps working and the stopped cell's result says the state is lost (size limit), with what the agent can do
# expect: ok
keep = "state"
# --- cell ---
# expect: ok
# value: 3
import os
import time

artifacts.save("journal_big", b"x" * (24 << 20))
loads = 0
for _ in range(3):
    data = artifacts.load("journal_big")
    del data
    loads += 1
for _ in range(64):
    os.urandom(1 << 20)
stamps = [time.time() for _ in range(100_000)]
loads
# --- cell ---
# expect: limit fuel|timeout
while True:
    pass
# --- cell ---
# expect: error NameError
keep
