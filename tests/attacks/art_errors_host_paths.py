# attack: provoke storage errors whose text would name the host directory: load a directory, save under a file, load missing names
# held: every error says what failed without a host path (the runner checks every output for the storage's host path)
# expect: ok
import traceback
msgs = []
artifacts.save("pathprobe/inner", "x")
artifacts.save("pathfile", "x")
for op in (lambda: artifacts.load("pathprobe"), lambda: artifacts.save("pathfile/below", "y"),
           lambda: artifacts.load("missing_zz"), lambda: artifacts.delete("pathprobe"),
           lambda: artifacts.save("pathprobe", "z"), lambda: artifacts.get("pathfile/below")):
    try:
        op()
    except Exception as e:
        msgs.append(f"{type(e).__name__}: {e}")
for name in ("pathprobe/inner", "pathfile"):
    artifacts.delete(name)
msgs
