# attack: a 100,000-character skill name for get, delete and create (host path length limits, error text size)
# held: refused with ValueError or SkillError on every operation (not "not found")
# expect: ok
# value: [true, true, true]
name = "a" * 100_000
out = []
for op in (lambda: skills.get(name), lambda: skills.delete(name), lambda: skills.create(name, "def run():\n    return 1\n")):
    try:
        op()
        out.append(False)
    except (ValueError, SkillError):
        out.append(True)
out
