# attack: the traversal names through the raw skills import, bypassing the guest's proxy entirely
# held: the host refuses each name itself (an Err), the canary's source never comes back
# expect: ok
# value: [true, true]
from wit_world.imports import skills as s
out = []
for op in (lambda: s.get_skill("../../canary/victim"), lambda: s.delete_skill("../../canary/nested/victim")):
    try:
        print(op())
        out.append(False)
    except Exception as e:
        out.append(type(e).__name__ == "Err")
out
