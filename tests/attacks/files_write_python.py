# attack: write a module into the stdlib mount (/python) so later sessions import it
# held: the write fails (read-only) and nothing appears there
# expect: ok
# value: [true, false]
import os
try:
    with open("/python/codemode_evil.py", "w") as f:
        f.write("print('owned')\n")
    wrote = False
except OSError:
    wrote = True
[wrote, os.path.exists("/python/codemode_evil.py")]
