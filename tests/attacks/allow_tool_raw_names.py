# attack: call the tool left out of --allow-tools through the raw import, under odd spellings (case, unicode look-alikes, whitespace, NUL, a recipe path, 100 KiB)
# held: the host refuses every one as not found (the Err names the name asked for, shortened), lists only allowed tools, and the tool never runs
# expect: ok
# value: [true, true, true, true, true, true, true, true, true, true]
# output-lacks: A tool no session may reach
from wit_world.imports import tools as t
names = ["forbidden", "FORBIDDEN", "forbidden ", " forbidden", "forbidde\u0578", "forbidden\x00", "forbidden.say", "ｆｏｒｂｉｄｄｅｎ", "forbidden" * 12000]
out = []
for name in names:
    try:
        t.call_tool(name, "say", '{"text": "ran"}')
        out.append(False)
    except Exception as e:
        out.append(type(e).__name__ == "Err" and e.value.kind.name == "NOT_FOUND" and "available: api" in e.value.message)
out.append(all(x.name != "forbidden" for x in t.list_tools()) and "forbidden" not in t.describe_tools())
out
