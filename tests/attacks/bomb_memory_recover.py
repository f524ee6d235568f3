# attack: hit the memory cap, catch the MemoryError, free the memory and carry on in the same run
# held: the run then completes normally
# expect: ok
# value: 3
try:
    hog = bytearray(1 << 30)
except MemoryError:
    hog = None
chunks = []
try:
    for _ in range(4096):
        chunks.append(bytearray(1 << 20))
except MemoryError:
    chunks = None
len([1, 2, 3])
