# attack: leave the data profile's writable /tmp: `..`, a symlink to /etc, a hard link to the stdlib, writes to the read-only stdlib and matplotlib data, listing /
# held: every attempt fails with OSError; nothing outside the session's own directory is read or written
# profile: data
# expect: ok
# value: [true, true, true, true, true, true]
# output-lacks: root:
import os
def refused(f):
    try:
        f()
        return False
    except OSError:
        return True
def via_symlink():
    os.symlink("../../../../../../../../etc", "/tmp/up")
    return open("/tmp/up/passwd").read()
[
    refused(lambda: open("/tmp/../../etc/passwd").read()),
    refused(via_symlink),
    refused(lambda: os.link("/usr/local/lib/python315.zip", "/tmp/zip")),
    refused(lambda: open("/usr/local/lib/python315.zip/matplotlib/mpl-data/x", "w")),
    refused(lambda: open("/usr/local/lib/evil.py", "w")),
    refused(lambda: os.listdir("/")),
]
