# attack: lift the guest's own stdout cap from inside (the stream's remaining room set huge, its drop count zeroed, then the stream replaced by the raw fd), and print 8 MiB
# held: the host-side cap holds whatever the guest does to its streams
# expect: limit output
# max-result-bytes: 500000
import sys, os
sys.stdout._room = 1 << 40
sys.stdout.dropped = 0
print("t" * (4 << 20))
sys.stdout = os.fdopen(1, "w")
print("u" * (4 << 20))
sys.stdout.flush()
