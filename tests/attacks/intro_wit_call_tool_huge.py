# attack: a 64 MiB JSON argument string straight into the raw tools import
# held: refused (an Err or ToolError) with bounded host memory
# expect: ok
# host-memory-max-mib: 900
from wit_world.imports import tools as t
payload = '{"text": "' + "x" * (64 << 20) + '"}'
try:
    t.call_tool("echo", None, payload)
    result = "accepted"
except Exception as e:
    result = type(e).__name__
del payload
result
