# attack: a list for date's `format` to smuggle an option after a harmless first item
# held: refused with ToolArgumentError; no line of /etc/passwd comes back
# expect: error ToolArgumentError
# output-lacks: root:x:0
tools.date(format=["+%s", "-f/etc/passwd"])
