# attack: collect host details the guest should not see (cwd, executable, prefix, platform, uname, hostname, user)
# held: nothing names a host path (the runner checks every output for the storage's and cache's host paths)
# expect: ok
import os, sys, platform, socket
facts = {"cwd": os.getcwd(), "executable": sys.executable, "prefix": sys.prefix, "path": sys.path,
         "platform": platform.platform()}
for module, name in ((os, "uname"), (socket, "gethostname"), (os, "getlogin"), (os, "getuid"), (os, "getpid"),
                     (os, "getppid"), (os, "getcwdb"), (os, "ctermid")):
    try:
        facts[name] = str(getattr(module, name)())
    except Exception as e:
        facts[name] = type(e).__name__
facts
