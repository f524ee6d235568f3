# attack: 100,000 nested brackets in the cell's own source, which the runner parses
# held: a SyntaxError, RecursionError or MemoryError for the agent (or the stack limit); the session survives
# expect: error SyntaxError|RecursionError|MemoryError or limit stack
exec("x = " + "(" * 100_000 + "1" + ")" * 100_000)
