# attack: grow memory step by step until something gives (a list of 1 MiB bytearrays, bounded at 4 GiB)
# held: MemoryError (the memory limit), never the host
# expect: limit memory or error MemoryError
chunks = []
for _ in range(4096):
    chunks.append(bytearray(1 << 20))
