# attack: create files and directories anywhere: /tmp, /, the current directory, relative paths upwards
# held: every write fails (no writable mount); nothing is created on the host (the runner checks)
# expect: ok
# value: [true, true, true, true, true]
import os
out = []
for op in (lambda: open("/tmp/evil", "w"), lambda: os.makedirs("/evil/dir"), lambda: open("evil.txt", "w"),
           lambda: open("../canary/evil.txt", "w"), lambda: open("../../evil.txt", "w")):
    try:
        op()
        out.append(False)
    except OSError:
        out.append(True)
out
