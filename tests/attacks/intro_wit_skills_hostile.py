# attack: the raw skills import with NUL, a non-identifier name, an out-of-range search limit, wrong types and surrogates
# held: the host refuses what reaches it (Err); what cannot cross fails in the guest (a Python error or a crash of its own bindings)
# expect: ok
# value: [true, true, true]
from wit_world.imports import skills as s
out = []
for op in (lambda: s.get_skill("gr\x00eet"), lambda: s.create_skill("ok name", "def run():\n    return 1\n", None, "[]"),
           lambda: s.create_skill("ok_name_zz", "def run(:\n", None, "[]")):
    try:
        op()
        out.append(False)
    except Exception as e:
        out.append(type(e).__name__ == "Err")
out
# --- cell ---
# expect: error TypeError|InterpreterCrash
from wit_world.imports import skills as s
s.get_skill(None)
# --- cell ---
# expect: error UnicodeEncodeError|InterpreterCrash
from wit_world.imports import skills as s
s.create_skill("ok_name_zz", "\ud800", None, "[]")
# --- cell ---
# expect: error OverflowError|ValueError|TypeError|InterpreterCrash
from wit_world.imports import skills as s
s.search_skills("x", -1)
