# attack: reach into the runner's frame from the cell and change its locals (the output limits, the code) before it finishes
# held: the host-side caps hold; the next run is unaffected
# expect: ok or limit output
# max-result-bytes: 500000
import sys
f = sys._getframe(1)
while f is not None:
    for name in list(f.f_locals):
        if "limit" in name:
            try:
                f.f_locals[name] = 1 << 40
            except Exception:
                pass
    f = f.f_back
print("z" * (4 << 20))
