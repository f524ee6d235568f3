# attack: a NUL byte in a skill name (`greet\0.txt`) for get, invoke, delete and create, to truncate the path on the host
# held: every operation refuses the name with ValueError or SkillError
# expect: ok
# value: ["refused", "refused", "refused", "refused"]
out = []
for op in (lambda: skills.get("greet\x00.txt"), lambda: skills.invoke("greet\x00x"), lambda: skills.delete("greet\x00x"),
           lambda: skills.create("evil\x00x", "def run():\n    return 1\n")):
    try:
        out.append(repr(op()))
    except (ValueError, SkillError):
        out.append("refused")
out
