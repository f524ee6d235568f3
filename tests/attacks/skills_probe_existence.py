# attack: learn which files exist outside the storage by comparing how skills.get fails for an existing and a missing path
# held: both names fail the same way (the same exception, the same message apart from the name)
# expect: ok
# value: true
def probe(name):
    try:
        return ("returned", skills.get(name) is None)
    except Exception as e:
        return (type(e).__name__, str(e).replace(name, "NAME").replace(repr(name), "NAME"))


probe("../../canary/victim") == probe("../../canary/absent_file_zz")
