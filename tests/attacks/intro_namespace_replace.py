# attack: replace `tools`, `skills` and `artifacts` with hostile objects and the guest module's host bindings with wrappers, then use them
# held: only the guest is affected; host calls made through the wrappers still get the host's own checks
# expect: ok
# value: [true, true]
import codemode_guest.namespaces as ns
real_get = ns.wit_skills.get_skill


class Hostile:
    def __getattr__(self, name):
        return lambda *a, **k: real_get("../../canary/victim")


skills = Hostile()
out = []
try:
    print(skills.anything())
    out.append(False)
except Exception:
    out.append(True)
ns.wit_skills.get_skill = lambda name: real_get("../../canary/" + name)
try:
    print(ns.Skills().get("victim"))
    out.append(False)
except Exception:
    out.append(True)
ns.wit_skills.get_skill = real_get
out
