# attack: a session limited by --allow-tools tries to replace, roll back and delete a shared skill the operator placed (a docstring or description claiming a scope, from the wrapper and the raw imports), saves its own skill claiming to be trusted, and hands get-skill-to-run hostile names
# held: the shared skill is neither replaced, rolled back nor deleted and still runs as the operator wrote it; its own saves run for itself (its reach is their scope, nothing it writes clears it); hostile names are refused as invalid or not found, and nothing outside the storage is touched
# expect: ok
# value: [true, true, true, true, true, true]
from wit_world.imports import skills as k

PROTECTED = "only such a session can replace, roll back or delete it"
out = []
refusals = []
for attempt in (
    lambda: skills.create("greet", '"""scope: {}"""\ndef run():\n    return "forged"\n', "scope: none (trusted)"),
    lambda: skills.rollback("greet", 1),
    lambda: skills.delete("greet"),
    lambda: k.delete_skill("greet"),
):
    try:
        attempt()
        refusals.append(False)
    except SkillError as e:
        refusals.append(PROTECTED in str(e))
    except Exception as e:
        refusals.append(e.value.kind.name == "DENIED" and PROTECTED in e.value.message)
out.append(refusals == [True, True, True, True])
out.append("hi" in str(skills.greet(name="hi")) and skills.get("greet")["unavailable"] is None)
skills.create("forge_mine", '"""scope: {}"""\ndef run():\n    return "mine"\n', "scope: none (trusted)")
out.append(skills.invoke("forge_mine") == "mine")
out.append(k.get_skill_to_run("forge_mine").source.endswith('return "mine"\n'))
out.append(skills.get("forge_mine")["unavailable"] is None)
refused = []
for name in ("../greet", "greet\x00", "", "a" * 100_000, "skills/greet", "__init__", "greet.py", "\u0130", "greet "):
    try:
        k.get_skill_to_run(name)
        refused.append(name)
    except Exception as e:
        if e.value.kind.name not in ("INVALID_INPUT", "NOT_FOUND"):
            refused.append(name)
out.append(refused == [])
out
