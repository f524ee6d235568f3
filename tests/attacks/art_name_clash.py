# attack: artifact names that nest into each other (`clash/y` while `clash` is an artifact, `clash_d` while `clash_d/...` are), saved and deleted, to break the store's layout or a batch of other writes
# held: each is refused with a clear error naming only artifacts (no host path, which the runner checks); what was stored stays readable and listed, and a later save works
# expect: ok
# value: [true, true, true, "kept", "inner", true, "after"]
artifacts.save("clash", "kept")
artifacts.save("clash_d/inner", "inner")
out = []
for op in [lambda: artifacts.save("clash/y", "x"), lambda: artifacts.save("clash_d", "x"), lambda: artifacts.delete("clash_d")]:
    try:
        op()
        out.append(False)
    except Exception as e:
        out.append("cannot" in str(e) and "/tmp" not in str(e))
out += [artifacts.load("clash"), artifacts.load("clash_d/inner")]
names = [a["name"] if isinstance(a, dict) else a.name for a in artifacts.list()]
out.append("clash" in names and "clash_d/inner" in names and "clash/y" not in names)
artifacts.save("clash_after", "after")
out.append(artifacts.load("clash_after"))
out
