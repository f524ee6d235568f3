# attack: a tool default full of quotes, backslashes and newlines, as the raw list-tools import gives it and as tools.list() and the signature show it
# held: the default crosses as typed JSON (not host-built Python source); agent code sees the same string as a typed default, and the signature shows it as a Python literal
# expect: ok
# value: [true, true, true, true]
import json
from wit_world.imports import tools as t
from wit_world.imports.types import DefaultValue_Json
raw = {i.name: i for i in t.list_tools()}["quote"]
param = [c for c in raw.callables if c.name is None][0].params[0]
expected = "it's \"q\" \\ back\nslash é ''' \"\"\" {x!r}"
listed = [t for t in tools.list() if t["name"] == "quote"][0]
shown = listed["parameters"][0]["default"]
[isinstance(param.default, DefaultValue_Json), json.loads(param.default.value) == expected,
 shown == expected, repr(expected) in tools.quote.signature()]
