# attack: call the raw WIT tools import directly with wrong types (an int for a string, bytes, None, a list) and out-of-range numbers
# held: each call fails in the guest, with a Python error or a crash of the guest's own bindings (the interpreter restarts); the host never sees the value
# expect: error TypeError|InterpreterCrash
from wit_world.imports import tools as t
t.call_tool(1, None, "{}")
# --- cell ---
# expect: error TypeError|InterpreterCrash
from wit_world.imports import tools as t
t.call_tool("echo", 2, "{}")
# --- cell ---
# expect: error TypeError|InterpreterCrash
from wit_world.imports import tools as t
t.call_tool("echo", None, b"{}")
# --- cell ---
# expect: error TypeError|InterpreterCrash
from wit_world.imports import tools as t
t.call_tool(["echo"], None, None)
# --- cell ---
# expect: error OverflowError|ValueError|TypeError|InterpreterCrash
from wit_world.imports import tools as t
t.search_tools("x", -1)
# --- cell ---
# expect: error OverflowError|ValueError|TypeError|InterpreterCrash
from wit_world.imports import tools as t
t.search_tools("x", 1 << 40)
