# attack: open /etc/passwd directly
# held: no such file in the sandbox (FileNotFoundError or PermissionError)
# expect: error FileNotFoundError|PermissionError
open("/etc/passwd").read()
