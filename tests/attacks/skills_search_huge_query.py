# attack: a 4 MiB search query (embedding and tokenizing it on the host)
# held: refused with ValueError or SkillError by a size cap on queries
# expect: error ValueError|SkillError
skills.search("overflow " * (512 << 10))
