# attack: make a stored skill raise, to see where its source lives on the host in the traceback
# held: the traceback names `skills/<name>.py`, never a host path (the runner checks every output for host paths)
# expect: error ZeroDivisionError
# output-contains: skills/raises_zz.py
skills.create("raises_zz", "def run():\n    return 1 / 0\n")
try:
    skills.raises_zz()
finally:
    skills.delete("raises_zz")
