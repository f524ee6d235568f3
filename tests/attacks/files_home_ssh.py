# attack: read the home directory's keys and config (expanduser, ~/.ssh, ~/.aws, ~/.cache/codemode)
# held: nothing is there
# expect: ok
# value: true
import os
paths = [os.path.expanduser(p) for p in ["~/.ssh/id_rsa", "~/.aws/credentials", "~/.cache/codemode", "/root/.bashrc"]]
not any(os.path.exists(p) for p in paths)
