# attack: build the guest's own tool proxy by hand with a tool name and a recipe name the host never listed, and call it
# held: the host refuses unknown tools and recipes (ToolError) whatever the guest claims
# expect: ok
# value: [true, true, true]
import codemode_guest.namespaces as ns
from wit_world.imports import tools as wit_tools

out = []
for callable_ in (ns._Callable("../../bin/sh", None), ns._Callable("/bin/sh", None),
                  ns._Callable("echo", wit_tools.CallableInfo("../../../bin/sh", "", []))):
    try:
        callable_(text="id")
        out.append(False)
    except ToolError:
        out.append(True)
out
