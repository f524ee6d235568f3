# attack: write 8 MiB straight to file descriptors 1 and 2 with os.write, around the guest's capped streams
# held: the host's own capture caps both
# expect: limit output
# max-result-bytes: 500000
import os
for fd in (1, 2):
    for _ in range(64):
        os.write(fd, b"w" * (64 << 10))
