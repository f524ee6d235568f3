# attack: a positional value that is an option: `tools.date(format="-f/etc/passwd")` makes date print the file in its error
# held: refused with ToolArgumentError (or passed after `--`), and no line of /etc/passwd comes back
# expect: error ToolArgumentError|ToolError
# output-lacks: root:x:0
tools.date(format="-f/etc/passwd")
