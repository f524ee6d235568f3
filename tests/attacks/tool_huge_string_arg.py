# attack: a 24 MiB string argument (argv size limits, host copies of it)
# held: a ToolError or ToolArgumentError naming the problem, with bounded host memory
# expect: error ToolArgumentError|ToolError
# host-memory-max-mib: 900
tools.echo(text="x" * (24 << 20))
