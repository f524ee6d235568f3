# attack: 20 million small objects in a dict (memory through many small allocations, and GC work)
# held: the memory limit or the run ends normally; never the host
# expect: ok or limit memory|timeout|fuel or error MemoryError
d = {i: (i, str(i)) for i in range(20_000_000)}
len(d)
