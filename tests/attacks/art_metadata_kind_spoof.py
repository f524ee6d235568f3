# attack: metadata keys that the store itself uses (`_data_type`), to make a text artifact load as JSON or bytes as text
# held: the artifact loads back as what was saved
# expect: ok
# value: [true, true]
artifacts.save("kind_spoof_text", "plain text, not json", metadata={"_data_type": "json"})
artifacts.save("kind_spoof_bytes", b"\xff\xfe", metadata={"_data_type": "text", "kind": "text"})
try:
    out = [artifacts.load("kind_spoof_text") == "plain text, not json", artifacts.load("kind_spoof_bytes") == b"\xff\xfe"]
finally:
    artifacts.delete("kind_spoof_text")
    artifacts.delete("kind_spoof_bytes")
out
