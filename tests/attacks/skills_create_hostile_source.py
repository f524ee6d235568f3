# attack: skill sources that attack the validator: 100,000 nested brackets, a NUL byte, a 1 MiB line, code that runs at import
# held: each is refused with ValueError or SkillError (nothing is executed or stored); the host survives
# expect: ok
# value: [true, true, true, true]
sources = ["def run():\n    return " + "(" * 100_000 + "1" + ")" * 100_000 + "\n", "def run():\n    return 1\x00\n",
           "def run():\n    return '" + "x" * (1 << 20) + "'\nimport !\n",
           "import os\nos._exit(1)\n"]
out = []
for i, source in enumerate(sources):
    try:
        skills.create(f"hostile_source_{i}", source)
        skills.delete(f"hostile_source_{i}")
        out.append(False)
    except (ValueError, SkillError):
        out.append(True)
out
