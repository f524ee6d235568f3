# attack: run a file outside the storage that has a top-level `run` through skills.invoke(`../../canary/victim`)
# held: refused with ValueError or SkillError before anything runs; the canary's marker is never returned
# expect: error ValueError|SkillError
skills.invoke("../../canary/victim")
