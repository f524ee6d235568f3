# attack: save a chain of 100 skills each calling the next, the last calling a tool the session may not reach, and a ring of 50 skills calling each other, so that telling whether one can run walks without end or across the whole store on every listing
# held: the walk stops after 64 skills: skills within 64 calls of the gap are listed unavailable naming the tool and the skill that needs it, the head of the chain (past the walk) is not; the ring is available; listing and invoking answer in bounded time
# expect: ok
# value: [true, true, true, true, true]
for i in range(100):
    body = f"skills.nchain{i + 1}()" if i < 99 else "tools.forbidden.run()"
    skills.create(f"nchain{i}", f"def run():\n    return {body}\n")
for i in range(50):
    skills.create(f"nring{i}", f"def run():\n    return skills.nring{(i + 1) % 50}()\n")
listed = {s["name"]: s["unavailable"] for s in skills.list() if s["name"].startswith(("nchain", "nring"))}
gap = 'this session has no tool "forbidden"'
out = [listed["nchain99"] == gap]
out.append(listed["nchain60"] == gap + ', which skill "nchain99" needs')
out.append(listed["nchain0"] is None)
out.append(all(listed[f"nring{i}"] is None for i in range(50)))
try:
    skills.nchain50()
    out.append(False)
except SkillError as e:
    out.append("cannot run: " + gap + ', which skill "nchain99" needs' in str(e))
out
