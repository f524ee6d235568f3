# attack: skill history and rollback with hostile versions (huge, negative, non-int, the u32 edge) and names with path tricks, through the wrappers and the raw WIT imports, then flood one skill's history
# held: every bad call is a clear ValueError/SkillNotFoundError or a NOT_FOUND/INVALID_INPUT host error, the history stays at most 20 versions, and the current version is the last one saved
# expect: ok
# value: [true, true, true, true, 20, 45]
from wit_world.imports import skills as k

skills.create("hop", "def run():\n    return 0\n")
bad = []
for version in (-1, 2**32, 2**200, "1", 1.5, None, True):
    try:
        skills.rollback("hop", version)
        bad.append(version)
    except (ValueError, TypeError):
        pass
out = [bad == []]
for name in ("../hop", "hop/../hop", ".versions", "__skills__", "hop\x00", "", "a" * 100_000, "hop:x", "\u0130"):
    for call in (lambda: k.skill_history(name), lambda: k.rollback_skill(name, 1)):
        try:
            call()
            bad.append(name)
        except Exception as e:
            if e.value.kind.name not in ("INVALID_INPUT", "NOT_FOUND", "DENIED"):
                bad.append(name)
out.append(bad == [])
for version in (0, 2, 2**32 - 1):
    try:
        k.rollback_skill("hop", version)
        bad.append(version)
    except Exception as e:
        if e.value.kind.name != "NOT_FOUND":
            bad.append(version)
out.append(bad == [])
try:
    skills.history("nope")
    out.append(False)
except LookupError:
    out.append(True)
for n in range(1, 45):
    skills.create("hop", f"def run():\n    return {n}\n")
history = skills.history("hop")
out.append(len([v for v in history if not v["current"]]))
out.append(history[-1]["version"] if history[-1]["current"] and skills.hop() == 44 else -1)
out
