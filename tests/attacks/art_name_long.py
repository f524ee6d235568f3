# attack: very long artifact names: one 300-character component (over the host's file-name limit), 10,000 components, 1 MiB
# held: each is refused with ValueError or ArtifactError, whose text names no host path
# expect: ok
# value: [true, true, true]
out = []
for name in ["a" * 300, "/".join(["d"] * 10_000), "n" * (1 << 20)]:
    try:
        artifacts.save(name, "x")
        out.append(False)
    except (ValueError, ArtifactError):
        out.append(True)
out
