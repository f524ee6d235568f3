# attack: values of the wrong type for every parameter kind (dict for a string, string for an integer, string for a boolean)
# held: each call is refused with ToolArgumentError
# expect: ok
# value: [true, true, true, true]
out = []
for call in (lambda: tools.echo(text={"a": 1}), lambda: tools.seq(last="1; id"), lambda: tools.date(utc="yes"),
             lambda: tools.seq(last=1.5)):
    try:
        call()
        out.append(False)
    except ToolArgumentError:
        out.append(True)
out
