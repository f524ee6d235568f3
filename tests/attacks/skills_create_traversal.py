# attack: write a skill outside the storage with skills.create(`../../canary/evil`)
# held: refused with ValueError or SkillError; nothing is written outside the storage
# expect: error ValueError|SkillError
skills.create("../../canary/evil", "def run():\n    return 1\n")
