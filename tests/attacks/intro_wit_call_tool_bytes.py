# attack: NUL bytes and lone surrogates through the raw tools import (in the tool name, the recipe name and the JSON)
# held: NUL gets a host error (the raw import raises Err); a lone surrogate cannot cross as UTF-8 (a Python error or a crash of the guest's own bindings)
# expect: ok
# value: [true, true, true, true]
from wit_world.imports import tools as t
cases = [("ec\x00ho", None, "{}"), ("echo", "ec\x00ho", "{}"), ("echo", None, '{"text": "a\\u0000b"}'),
         ("echo", None, '{"text": "\\ud800"}')]
out = []
for case in cases:
    try:
        print(repr(t.call_tool(*case))[:200])
        out.append(False)
    except Exception as e:
        out.append(type(e).__name__ == "Err")
out
# --- cell ---
# expect: error UnicodeEncodeError|InterpreterCrash
from wit_world.imports import tools as t
t.call_tool("echo", None, '{"text": "\ud800"}')
# --- cell ---
# expect: error UnicodeEncodeError|InterpreterCrash
from wit_world.imports import tools as t
t.call_tool("\udfff", None, "{}")
