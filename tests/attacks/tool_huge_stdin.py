# attack: 40 MiB on a tool's standard input that comes straight back on its output, past the tool output cap
# held: a ToolError saying the output was too large; the host does not keep it all
# expect: error ToolError|ToolArgumentError
# host-memory-max-mib: 900
tools.cat(stdin="y" * (40 << 20))
