# attack: os.fork, os.execv, os.spawnv and os.kill of the host (pid 1, the parent)
# held: none is available
# expect: ok
# value: [true, true, true, true]
import os
out = []
for op in (lambda: os.fork(), lambda: os.execv("/bin/sh", ["sh"]), lambda: os.spawnv(os.P_WAIT, "/bin/sh", ["sh"]),
           lambda: os.kill(1, 9)):
    try:
        op()
        out.append(False)
    except (OSError, AttributeError, NotImplementedError):
        out.append(True)
out
