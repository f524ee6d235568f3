# attack: read a Python file outside the storage through skills.get with a name that walks up (`../../canary/victim`)
# held: the name is refused with ValueError or SkillError and the canary's source never comes back
# expect: error ValueError|SkillError
skills.get("../../canary/victim")
