# attack: a 65 MiB artifact, over the 64 MiB cap
# held: refused with ValueError (too large); nothing is stored
# expect: ok
# value: [true, false]
try:
    artifacts.save("too_big", b"\0" * (65 << 20))
    refused = False
except (ValueError, ArtifactError):
    refused = True
[refused, artifacts.exists("too_big")]
