# attack: make symlinks and hard links pointing at host files
# held: every attempt fails (no writable directory, no host paths)
# expect: ok
# value: [true, true]
import os
out = []
for op in (lambda: os.symlink("/etc/passwd", "/python/passwd"), lambda: os.link("/python/os.py", "/deps/os.py")):
    try:
        op()
        out.append(False)
    except (OSError, NotImplementedError):
        out.append(True)
out
