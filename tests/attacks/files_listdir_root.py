# attack: list the root directory (and walk it) to map the host's file system
# held: nothing but the sandbox's own read-only mounts can be listed or opened at the top
# expect: ok
# value: true
import os
try:
    seen = set(os.listdir("/"))
except OSError:
    seen = set()
for name in ["etc", "proc", "home", "root", "tmp", "usr", "var"]:
    if os.path.exists("/" + name):
        seen.add(name)
seen <= {"python", "deps"}
