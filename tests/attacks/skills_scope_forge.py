# attack: a session limited by --allow-tools overwrites a shared skill and saves new ones, trying to have them trusted beyond its scope (a description or docstring claiming a scope, a delete and re-create), and hands get-skill-to-run hostile names
# held: its own saves run for itself (its reach is their scope, nothing it writes clears it); it cannot delete the shared skill whose history holds a wider session's version; hostile names are refused as invalid or not found, and nothing outside the storage is touched
# expect: ok
# value: [true, true, true, true, true]
from wit_world.imports import skills as k

out = []
skills.create("greet", 'def run(name: str = "x"):\n    return tools.echo.echo(text=name)\n', "scope: none (trusted)")
out.append("hi" in str(skills.greet(name="hi")) and skills.get("greet")["unavailable"] is None)
try:
    skills.delete("greet")
    out.append(False)
except SkillError as e:
    out.append("only such a session can delete it" in str(e))
skills.create("greet", '"""scope: {}"""\ndef run():\n    return "again"\n')
out.append(skills.invoke("greet") == "again")
out.append(k.get_skill_to_run("greet").source.endswith('return "again"\n'))
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
