# attack: poison sys.modules and stdlib modules (json.dumps, asyncio.new_event_loop, the guest's own namespaces module) so later sessions misbehave
# held: after reset json, asyncio and the agent namespace are pristine again
# expect: any
# next: reset
import sys, json, asyncio
json.dumps = lambda *a, **k: "poisoned"
asyncio.new_event_loop = None
sys.modules["codemode_guest.namespaces"].agent_namespace = lambda: {}
sys.modules["math"] = None
# --- reset ---
# expect: ok
# value: [true, "[1]", 1.0]
import json, math
[type(tools).__name__ == "Tools", json.dumps([1]), math.cos(0)]
