# attack: native code from Python: ctypes, _ctypes, mmap, cffi
# held: none is importable (or mmap maps nothing of the host)
# expect: ok
# value: [true, true, true]
out = []
for name in ("ctypes", "_ctypes", "cffi"):
    try:
        __import__(name)
        out.append(False)
    except ImportError:
        out.append(True)
out
