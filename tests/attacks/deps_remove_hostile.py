# attack: deps.remove with names that are paths (`..`, `../../canary`, `/`, `*`), to delete files through uninstall
# held: each is refused with ValueError or DepsError; the canary and the storage are untouched
# expect: ok
# value: true
refused = 0
names = ["..", "../../canary", "/", "*", "site-packages/..", "six/../../.."]
for name in names:
    try:
        deps.remove(name)
    except (ValueError, DepsError):
        refused += 1
refused == len(names)
