# attack: save skills whose sources name thousands of tools and skills, huge and odd names, and the namespace's own methods, to bloat or confuse what is recorded
# held: the recorded needs are capped (64 of each), bounded names only, the namespace's own methods left out; listings stay small
# expect: ok
# value: [true, true, true]
# max-result-bytes: 400000
lines = ["def run():"] + [f"    tools.t{i}.x()\n    skills.s{i}()" for i in range(3000)]
lines.append("    tools." + "a" * 5000 + "()")
lines.append("    skills.invoke('" + "b" * 5000 + "')\n    skills.invoke('../../etc/passwd')\n    tools.list(); skills.search('x'); tools.describe()")
created = skills.create("bloated", "\n".join(lines))
needs = created["needs"]
out = [len(needs["tools"]) == 64 and len(needs["skills"]) == 64]
out.append(all(len(n) <= 128 for n in needs["tools"] + needs["skills"]) and "list" not in needs["tools"] and "search" not in needs["skills"])
out.append(created["unavailable"].startswith("this session has no tool") and len(created["unavailable"]) < 20000)
skills.delete("bloated")
out
