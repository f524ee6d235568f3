# attack: `--help` and `--version` as text for echo, which GNU echo obeys as options
# held: refused with ToolArgumentError, or echoed as text: echo's help never comes back
# expect: error ToolArgumentError|ToolError or ok
# output-lacks: Usage:
# output-lacks: Free Software Foundation
tools.echo(text="--help") + tools.echo(text="--version")
