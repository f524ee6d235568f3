# attack: read the host's environment and command line from the guest (os.environ, getenv, sys.argv, sys.orig_argv)
# held: the environment is empty and the arguments say nothing about the host
# expect: ok
# value: [{}, null, true]
# output-lacks: CODEMODE
import os, sys
[dict(os.environ), os.getenv("CODEMODE_ATTACK_SECRET"), all("codemode" not in a for a in sys.argv + sys.orig_argv)]
