# attack: read any host `*.py` the server can read through a skill name of many `../` (the host's own os.py)
# held: refused with ValueError or SkillError; no host source comes back
# expect: error ValueError|SkillError
# output-lacks: def makedirs
skills.get("../" * 40 + "usr/lib/python3.11/os")
