# attack: an option's value that is itself an option (`date -d -f/etc/passwd`)
# held: refused with ToolArgumentError, or read as the value only; no line of /etc/passwd comes back
# expect: error ToolArgumentError|ToolError
# output-lacks: root:x:0
tools.date(date="-f/etc/passwd", format="+%s")
