# attack: raise the guest's own stdout cap from inside (every int attribute of sys.stdout set huge, the stream replaced by the raw fd), then print 8 MiB
# held: the host-side cap holds whatever the guest does to its streams
# expect: limit output
# max-result-bytes: 500000
import sys, os
for name in list(vars(sys.stdout)):
    if isinstance(getattr(sys.stdout, name), int) and not isinstance(getattr(sys.stdout, name), bool):
        setattr(sys.stdout, name, 1 << 40)
print("t" * (4 << 20))
sys.stdout = os.fdopen(1, "w")
print("u" * (4 << 20))
sys.stdout.flush()
