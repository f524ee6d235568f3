# attack: read the host's /proc (environment, memory maps, command line) and /dev
# held: none of it exists in the sandbox
# expect: ok
# value: [true, true, true, true]
out = []
for path in ["/proc/self/environ", "/proc/self/maps", "/proc/1/cmdline", "/dev/mem"]:
    try:
        print(open(path, "rb").read(100))
        out.append(False)
    except OSError:
        out.append(True)
out
