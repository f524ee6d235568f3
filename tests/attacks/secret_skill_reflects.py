# attack: let a stored skill call the secret-reflecting HTTP tool and return the raw exception and body, from a nested call
# held: scrubbed the same way inside skills
# expect: ok
skills.create("reflect_zz", """
def run():
    out = [repr(tools.api.echo())]
    try:
        tools.api.fail(pad=480)
    except ToolError as e:
        out.append(repr(e.args))
    return out
""")
try:
    result = skills.reflect_zz()
finally:
    skills.delete("reflect_zz")
result
