# attack: list directories above the mounts (`/python/..`, `/deps/../..`) and chdir upwards
# held: the listings show only the sandbox's root
# expect: ok
# value: true
import os
seen = set()
for path in ["/python/..", "/python/../..", "/deps/..", "/deps/../../.."]:
    try:
        seen |= set(os.listdir(path))
    except OSError:
        pass
try:
    os.chdir("/python")
    os.chdir("../../..")
    seen |= set(os.listdir("."))
except OSError:
    pass
seen <= {"python", "deps"}
