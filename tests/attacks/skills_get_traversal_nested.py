# attack: the same walk-out through skills.get, one directory deeper, with redundant `./` and `//` segments
# held: every spelling is refused with ValueError or SkillError; no source comes back
# expect: ok
# value: [true, true, true]
out = []
for name in ["../../canary/nested/victim", ".././../canary/./nested/victim", "..//..//canary//nested//victim"]:
    try:
        print(skills.get(name))
        out.append(False)
    except (ValueError, SkillError):
        out.append(True)
out
