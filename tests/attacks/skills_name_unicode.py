# attack: skill names with non-ASCII look-alikes, a slash, a backslash and a control character
# held: each is refused with ValueError or SkillError on get and on create
# expect: ok
# value: [true, true, true, true, true]
out = []
for name in ["ｇｒｅｅｔ", "gr\u0435et", "a/b", "a\\b", "a\nb"]:
    refused = 0
    for op in (lambda: skills.get(name), lambda: skills.create(name, "def run():\n    return 1\n")):
        try:
            op()
        except (ValueError, SkillError):
            refused += 1
    out.append(refused == 2)
out
