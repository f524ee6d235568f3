# attack: import host files as modules (sys.path entries for /, /etc, the canary; a spec from /etc/passwd)
# held: nothing outside the sandbox's mounts is importable
# expect: ok
# value: [true, true]
import sys, importlib.util
sys.path[:0] = ["/", "/etc", "../canary", "../../canary"]
out = []
try:
    import victim
    out.append(False)
except ImportError:
    out.append(True)
try:
    spec = importlib.util.spec_from_file_location("passwd", "/etc/passwd")
    importlib.util.module_from_spec(spec)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    out.append(False)
except (OSError, ImportError, AttributeError, SyntaxError):
    out.append(True)
out
