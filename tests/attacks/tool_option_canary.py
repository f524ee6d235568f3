# attack: the same option injection with a path relative to the tool's working directory, to read the canary
# held: refused with ToolArgumentError (or passed after `--`); the canary's text never comes back
# expect: error ToolArgumentError|ToolError
tools.date(format="-fcanary/secret.txt")
