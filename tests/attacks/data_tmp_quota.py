# attack: fill the data profile's /tmp: thousands of small files, one big file, a sparse file a terabyte long, a truncate past the cap
# held: each stops with ENOSPC at the quota (1024 names, 64 MiB), the session goes on and /tmp is usable again once emptied
# profile: data
# expect: ok
# value: [[1024, true], [64, true], true, true, 3]
# host-memory-max-mib: 1024
import os, errno
def until_full(step):
    n = 0
    try:
        while n < 100000:
            step(n)
            n += 1
    except OSError as e:
        return [n, e.errno == errno.ENOSPC]
    return [n, "never refused"]
def nospace(f):
    try:
        f()
        return False
    except OSError as e:
        return e.errno == errno.ENOSPC
files = until_full(lambda n: open(f"/tmp/f{n}", "w").close())
for name in os.listdir("/tmp"):
    os.unlink("/tmp/" + name)
with open("/tmp/big", "wb") as f:
    big = until_full(lambda n: f.write(b"x" * (1 << 20)) and f.flush())
os.unlink("/tmp/big")
f = open("/tmp/sparse", "wb", buffering=0)
sparse = nospace(lambda: (f.seek(1 << 40), f.write(b"x")))
grown = nospace(lambda: f.truncate(1 << 40))
f.close()
open("/tmp/again", "w").write("abc")
[files, big, sparse, grown, os.path.getsize("/tmp/again")]
