# attack: hostile specs straight into the raw deps import (a requirements file, an index URL, a newline, NUL)
# held: the host refuses each spec (Err) before pip runs
# expect: ok
# value: true
from wit_world.imports import deps as d
specs = ["-r /etc/passwd", "--index-url http://127.0.0.1:1/ six", "six\n-e /tmp/x", "six\x00", "../../canary"]
refused = 0
for spec in specs:
    try:
        d.add_dep(spec)
    except Exception as e:
        refused += type(e).__name__ == "Err"
refused == len(specs)
