# attack: a NUL byte inside an argument (argv strings end at NUL on the host)
# held: a ToolError or ToolArgumentError, not a crash
# expect: error ToolArgumentError|ToolError
tools.echo(text="before\x00after")
