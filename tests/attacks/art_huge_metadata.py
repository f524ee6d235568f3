# attack: 20 MiB of metadata and a 20 MiB description on a tiny artifact (the size cap covers only data)
# held: refused with ValueError or ArtifactError by a cap on metadata and descriptions
# expect: error ValueError|ArtifactError
try:
    artifacts.save("huge_meta", "x", description="d" * (20 << 20), metadata={"m": "m" * (20 << 20)})
finally:
    try:
        artifacts.delete("huge_meta")
    except Exception:
        pass
