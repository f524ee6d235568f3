# attack: tool and recipe names that walk paths or name host programs (`../../bin/sh`, `sh`, `/bin/sh`)
# held: AttributeError: only the host's tools exist
# expect: ok
# value: [true, true, true, true]
out = []
for get in (lambda: getattr(tools, "../../bin/sh"), lambda: tools.sh, lambda: getattr(tools, "/bin/sh"),
            lambda: getattr(tools.echo, "../../bin/sh")):
    try:
        get()
        out.append(False)
    except AttributeError:
        out.append(True)
out
