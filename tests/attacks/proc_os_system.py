# attack: os.system, os.popen and os.posix_spawn
# held: none is available
# expect: ok
# value: [true, true, true]
import os
out = []
for op in (lambda: os.system("id"), lambda: os.popen("id").read(), lambda: os.posix_spawn("/bin/sh", ["sh"], {})):
    try:
        op()
        out.append(False)
    except (OSError, AttributeError, NotImplementedError, ImportError, RuntimeError):
        out.append(True)
out
