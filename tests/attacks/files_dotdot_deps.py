# attack: walk out of the read-only packages mount (/deps/..) to the storage beside it and to the canary
# held: nothing outside /deps is reachable
# expect: ok
# value: [true, true, true, true]
import os
out = []
for path in ["/deps/../../requirements.txt", "/deps/../../../canary/secret.txt", "/deps/../../../../canary/secret.txt",
             "/deps/" + "../" * 20 + "etc/passwd"]:
    try:
        print(open(path).read()[:100])
        out.append(False)
    except OSError:
        out.append(True)
out
