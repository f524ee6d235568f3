# attack: read, stat and seek every file descriptor number 0-255, looking for an inherited host file
# held: no descriptor yields host data
# expect: ok
# output-lacks: root:x:0
import os
found = []
for fd in range(256):
    try:
        data = os.read(fd, 64)
        found.append((fd, data))
    except OSError:
        pass
found
