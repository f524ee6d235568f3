# attack: walk out of the read-only stdlib mount with `..` (/python/../etc/passwd, /python/../../../../etc/passwd)
# held: every path fails (FileNotFoundError or PermissionError), nothing of the host is read
# expect: ok
# value: [true, true, true]
out = []
for path in ["/python/../etc/passwd", "/python/../../../../../etc/passwd", "/python/" + "../" * 30 + "etc/hostname"]:
    try:
        print(open(path).read()[:100])
        out.append(False)
    except (FileNotFoundError, PermissionError, OSError):
        out.append(True)
out
