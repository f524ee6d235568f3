# attack: search every live object (gc.get_objects, their referents) for strings that look like host paths or secrets
# held: none is there to find (the runner checks the output for host paths and secrets)
# expect: ok
import gc
hits = set()
for obj in gc.get_objects():
    for ref in gc.get_referents(obj):
        if isinstance(ref, str) and ("/tmp" in ref or "/root" in ref or "/home" in ref or "SECRET" in ref or "TOKEN" in ref):
            hits.add(ref[:300])
        if len(hits) > 200:
            break
print("\n".join(sorted(hits)))
len(hits)
