# attack: skills named like Python keywords or the namespace's own methods (`class`, `list`, `invoke`), which would shadow them
# held: each is refused with ValueError or SkillError at create, and `skills.list` still works
# expect: ok
# value: [true, true, true, true, true]
out = []
for name in ["class", "list", "invoke", "__init__", "_private"]:
    try:
        skills.create(name, "def run():\n    return 1\n")
        out.append(False)
    except (ValueError, SkillError):
        out.append(True)
assert isinstance(skills.list(), list)
out
