# attack: deps specs that are URLs, paths, requirement files, pip options, markers, newlines or shell syntax
# held: each is refused with ValueError or DepsError before pip runs; nothing is read (no /etc/passwd in any error)
# expect: ok
# value: true
# output-lacks: root:x:0
specs = ["https://evil.example/x.whl", "six @ https://evil.example/six.whl", "/etc/passwd", "./canary", "../canary",
         "-r /etc/passwd", "--index-url http://127.0.0.1:1/", "six --extra-index-url=http://127.0.0.1:1/",
         "-e git+https://x/y", 'six; os_name == "posix"', "six\n-r /etc/passwd", "six && id", "$(id)", "six`id`",
         "six\x00", "", " ", "a" * 100_000]
refused = 0
for spec in specs:
    try:
        deps.add(spec)
        print("accepted", repr(spec))
    except (ValueError, DepsError):
        refused += 1
refused == len(specs)
