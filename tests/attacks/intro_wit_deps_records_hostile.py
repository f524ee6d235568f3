# attack: the raw list-deps and sync-deps imports (records straight from the host), extra arguments, and hostile names into remove-dep
# held: the lists hold requirement records whose spec starts with the normalised name; hostile names are refused (Err) before anything is touched
# expect: ok
# value: [true, true]
from wit_world.imports import deps as d
listed = d.list_deps()
out = [all(isinstance(r.name, str) and isinstance(r.spec, str) and r.spec.startswith(r.name) for r in listed)]
refused = 0
names = ["../../canary", "", " ", "-r /etc/passwd", "six\x00", "six\n-e /tmp/x", "a" * 100_000, "six; rm -rf /"]
for name in names:
    try:
        d.remove_dep(name)
    except Exception as e:
        refused += type(e).__name__ == "Err"
out.append(refused == len(names))
out
# --- cell ---
# expect: ok or error Err
from wit_world.imports import deps as d
synced = d.sync_deps()
[(r.name, r.spec) for r in synced] == [(r.name, r.spec) for r in d.list_deps()]
# --- cell ---
# expect: error TypeError|InterpreterCrash
from wit_world.imports import deps as d
d.list_deps("extra")
