# attack: get past the data profile's /tmp quota by renaming, replacing, and unlinking files the session still holds open (their space is still used on the host)
# held: a file unlinked while open is still charged until closed; renames never free space; writes past the quota fail with ENOSPC
# profile: data
# expect: ok
# value: [true, "done", true, "done", true]
import os, errno
def attempt(f):
    try:
        f()
        return "done"
    except OSError as e:
        return e.errno == errno.ENOSPC
MB = b"x" * (40 << 20)
open("/tmp/a", "wb").write(MB)
os.rename("/tmp/a", "/tmp/b")
r = [attempt(lambda: open("/tmp/c", "wb").write(MB))]
os.replace("/tmp/c", "/tmp/b")
r.append(attempt(lambda: open("/tmp/c", "wb").write(MB)))
held = [open("/tmp/c", "rb") for _ in range(3)]
os.unlink("/tmp/c")
r.append(attempt(lambda: open("/tmp/d", "wb").write(MB)))
for h in held:
    h.close()
r.append(attempt(lambda: open("/tmp/d", "wb").write(MB)))
r.append(attempt(lambda: open("/tmp/e", "wb").write(MB)))
r
