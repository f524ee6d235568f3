# attack: a skill that invokes itself forever (a host-call loop)
# held: SkillError once skills nest deeper than the limit; the session carries on
# expect: error SkillError
skills.create("loop_forever", "def run():\n    return skills.invoke('loop_forever')\n")
try:
    skills.loop_forever()
finally:
    skills.delete("loop_forever")
