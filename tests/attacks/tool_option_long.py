# attack: the long spelling `--file=/etc/passwd` as a positional value, through the recipe
# held: refused with ToolArgumentError (or passed after `--`); no line of /etc/passwd comes back
# expect: error ToolArgumentError|ToolError
# output-lacks: root:x:0
tools.date.show(format="--file=/etc/passwd")
