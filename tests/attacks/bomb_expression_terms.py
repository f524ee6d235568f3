# attack: a 10,000-term expression and 100,000 nested unary minuses, compiled at run time
# held: each compiles to the right value or fails with a Python error (RecursionError, SyntaxError, MemoryError), never the stack limit
# expect: ok
# value: [true, true]
out = []
for source, expected in [("1" + " + 1" * 10_000, 10_001), ("-" * 100_000 + "1", 1)]:
    try:
        out.append(eval(source) == expected)
    except (RecursionError, SyntaxError, MemoryError):
        out.append(True)
out
