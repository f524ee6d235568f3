# attack: the raw artifacts import with invalid metadata JSON, non-object metadata, JSON kind with bytes that are not JSON, text that is not UTF-8, and a kind that is no enum value
# held: the host refuses each (Err) and stores nothing; a bad enum fails in the guest (a Python error or a crash of its own bindings)
# expect: ok
# value: [true, true, true, true, false]
from wit_world.imports import artifacts as a
K = a.DataKind
ops = [lambda: a.save_artifact("meta_bad", b"{}", K.JSON, "", "{not json"), lambda: a.save_artifact("meta_list", b"{}", K.JSON, "", "[1]"),
       lambda: a.save_artifact("kind_bad", b"\xff\xfe", K.JSON, "", "{}"), lambda: a.save_artifact("text_bad", b"\xff", K.TEXT, "", "{}")]
out = []
for op in ops:
    try:
        op()
        out.append(False)
    except Exception as e:
        out.append(type(e).__name__ == "Err")
out.append(any(artifacts.exists(n) for n in ["meta_bad", "meta_list", "kind_bad", "text_bad"]))
out
# --- cell ---
# expect: error TypeError|ValueError|AttributeError|InterpreterCrash
from wit_world.imports import artifacts as a
a.save_artifact("enum_bad", b"{}", 7, "", "{}")
