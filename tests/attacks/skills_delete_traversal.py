# attack: delete a file outside the storage through skills.delete(`../../canary/victim`)
# held: refused with ValueError or SkillError; the canary directory is unchanged
# expect: error ValueError|SkillError
skills.delete("../../canary/victim")
