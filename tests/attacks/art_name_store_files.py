# attack: overwrite the store's own files through artifact names (`.artifacts.json`, `__index__`, a `.lock`, `sub/.hidden`)
# held: refused with ValueError; the index survives
# expect: ok
# value: [true, true, true, true]
out = []
for name in [".artifacts.json", "__index__", ".artifacts.lock", "sub/.hidden"]:
    try:
        artifacts.save(name, {"forged": True})
        out.append(False)
    except ValueError:
        out.append(True)
assert isinstance(artifacts.list(), list)
out
