# attack: reach a file outside the storage through attribute access on `skills` (getattr with a traversal name)
# held: AttributeError: only stored skills are attributes
# expect: error AttributeError
getattr(skills, "../../canary/victim")()
