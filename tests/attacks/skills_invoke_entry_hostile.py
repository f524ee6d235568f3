# attack: call the runner's host-only skill entry point from agent code with hostile arguments (not an object, not JSON, a non-str name, dunder and non-identifier keywords)
# held: each is an ordinary Python exception of its own kind; nothing is invoked and the interpreter keeps running
# expect: ok
# value: ["TypeError", "JSONDecodeError", "TypeError", "SkillError"]
import codemode_guest.namespaces as ns

out = []
for name, args in (("zz_missing", "[1]"), ("zz_missing", "{bad"), (None, "{}"), ("zz_missing", '{"__class__": 1, "a b": 2}')):
    try:
        ns.invoke_for_host(name, args)
    except Exception as e:
        out.append("SkillError" if isinstance(e, SkillError) else type(e).__name__)
out
