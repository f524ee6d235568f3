# attack: invoke a stored skill whose source calls the tool left out of --allow-tools, by attribute, by invoke, and by running its source by hand
# held: it is listed unavailable naming the tool, invoking it fails up front with SkillError, and running its code anyway is refused at the tool call by the host
# expect: ok
# value: [true, true, true, true]
# output-lacks: A tool no session may reach
listed = {s["name"]: s for s in skills.list()}
info = listed["needs_forbidden"]
out = [info["unavailable"] == 'this session has no tool "forbidden"' and info["needs"]["tools"] == ["forbidden"]]
for call in (lambda: skills.needs_forbidden(), lambda: skills.invoke("needs_forbidden", text="ran")):
    try:
        call()
        out.append(False)
    except SkillError as e:
        out.append("cannot run" in str(e) and '"forbidden"' in str(e))
source = skills.get("needs_forbidden")["source"]
ns = {"tools": tools}
exec(source, ns)
try:
    ns["run"]("ran")
    out.append(False)
except AttributeError as e:
    out.append("no tool named 'forbidden'" in str(e))
out
