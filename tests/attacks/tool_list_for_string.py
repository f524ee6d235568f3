# attack: a list for a `string` positional, which becomes several argv entries (`["a", "-n", "b"]`)
# held: refused with ToolArgumentError: the value does not match the schema's type
# expect: error ToolArgumentError
tools.echo(text=["a", "-n", "b"])
