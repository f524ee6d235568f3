# attack: hostile skill examples: raw imports with 10 MB and 100,000-deep JSON, examples that write artifacts and skills, leave the interpreter, loop, or read host paths, and a hostile skills.test
# held: every one refuses the save (ValueError/SkillError, or INVALID_INPUT/DENIED from the raw import), nothing is stored, the loop is stopped by the session's limits, and skills.test refuses bad names
# expect: ok
# value: [true, true, true, [], [], false]
from wit_world.imports import skills as k

src = "def run():\n    return 1\n"
bad = []
for examples_json in ("[" * 100_000 + "]" * 100_000, '[{"args": {}, "expect": "' + "x" * 10_000_000 + '"}]',
                      '[{"args": [], "expect": 1}]', '{"args": {}}', "null", '[{"expect": 1, "path": "/etc"}]'):
    try:
        k.create_skill("ex_raw", src, None, examples_json)
        bad.append(examples_json[:20])
    except Exception as e:
        if e.value.kind.name != "INVALID_INPUT":
            bad.append(examples_json[:20])
out = [bad == []]
sources = [
    "def run():\n    artifacts.save('ex_leak', {'a': 1})\n    return 1\n",
    "def run():\n    skills.create('ex_child', 'def run():\\n    return 1\\n')\n    return 1\n",
    "def run():\n    skills.delete('ex_keep')\n    return 1\n",
    "import os\ndef run():\n    os._exit(0)\n",
    "def run():\n    return open('/etc/passwd').read()\n",
]
skills.create("ex_keep", src)
refused = []
for i, source in enumerate(sources):
    try:
        skills.create(f"ex_write_{i}", source, examples=[{"args": {}, "expect": 1}])
    except (ValueError, SkillError) as e:
        refused.append("/root" not in str(e) and "/tmp" not in str(e))
out.append(refused == [True] * len(sources))
try:
    skills.create("ex_loop", "def run():\n    while True:\n        pass\n", examples=[{"args": {}, "expect": 1}] * 16)
    out.append(False)
except (ValueError, SkillError) as e:
    out.append("limit" in str(e).lower())
out.append([a["name"] for a in artifacts.list() if a["name"].startswith("ex_")])
out.append(sorted(s["name"] for s in skills.list() if s["name"].startswith("ex_") and s["name"] != "ex_keep"))
try:
    skills.test("../../etc/passwd")
    out.append(True)
except (ValueError, LookupError, SkillError):
    out.append(False)
out
