# attack: write into the packages mount (/deps), make a directory there, and overwrite an existing file
# held: every write fails; the mount is read-only
# expect: ok
# value: [true, true, true]
import os
out = []
for op in (lambda: open("/deps/evil.pth", "w").write("import os\n"), lambda: os.mkdir("/deps/evil"),
           lambda: os.rename("/deps", "/deps2")):
    try:
        op()
        out.append(False)
    except OSError:
        out.append(True)
out
