# attack: NUL and control characters in artifact names (path truncation, log injection)
# held: refused with ValueError
# expect: ok
# value: [true, true, true, true]
out = []
for name in ["a\x00b", "a\nb", "a\rb", "\x1b[31mred"]:
    try:
        artifacts.save(name, "x")
        out.append(False)
    except ValueError:
        out.append(True)
out
