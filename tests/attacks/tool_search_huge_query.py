# attack: a 4 MiB tools.search query (ranking and embedding it on the host)
# held: refused with ValueError or ToolError by a size cap on queries
# expect: error ValueError|ToolError|ToolArgumentError
tools.search("needle " * (600 << 10))
