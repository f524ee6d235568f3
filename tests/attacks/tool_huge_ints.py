# attack: a list of 8 million ints for a string parameter: 24 MB of JSON that the host expands into a much larger value
# held: refused (ToolArgumentError or ToolError) without the host growing past a bounded amount of memory
# expect: error ToolArgumentError|ToolError
# host-memory-max-mib: 900
tools.echo(text=[0] * 8_000_000)
