# attack: a 20 MiB skill source sent to the host for validation and storage
# held: refused with ValueError or SkillError by a size cap checked before the host works on it
# expect: error ValueError|SkillError
source = "def run():\n    return 1\n" + "# padding\n" * (2 << 20)
try:
    skills.create("huge_source", source)
finally:
    try:
        skills.delete("huge_source")
    except Exception:
        pass
