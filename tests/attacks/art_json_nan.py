# attack: JSON artifacts that are not JSON (NaN, Infinity from Python's json.dumps) and metadata with NaN
# held: refused with ValueError or ArtifactError, or stored and read back faithfully; the index stays readable
# expect: ok
# value: true
ok = True
for data, meta in (({"x": float("nan")}, None), ([float("inf")], None), ({"x": 1}, {"m": float("-inf")})):
    try:
        artifacts.save("nan_probe", data, metadata=meta)
        artifacts.load("nan_probe")
        artifacts.delete("nan_probe")
    except (ValueError, ArtifactError):
        pass
isinstance(artifacts.list(), list) and ok
