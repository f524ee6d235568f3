# attack: allocate far past the memory cap in one go ([0] * 10**9)
# held: MemoryError, named as the memory limit; the session survives
# expect: limit memory or error MemoryError
x = [0] * (10 ** 9)
