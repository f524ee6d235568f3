# attack: walk every frame above the cell (sys._getframe, f_back) and dump their globals and locals
# held: only the guest's own runner is there, with no host data (the runner checks for host paths and secrets)
# expect: ok
import sys
f = sys._getframe()
seen = []
while f is not None:
    seen.append((f.f_code.co_filename, f.f_code.co_name, sorted(f.f_locals)[:50]))
    for value in list(f.f_locals.values()) + list(f.f_globals.values()):
        text = repr(value)[:500]
        if "/" in text:
            seen.append(text)
    f = f.f_back
seen
