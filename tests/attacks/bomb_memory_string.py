# attack: string and integer size overflows ('x' * 2**62, 10 ** 10 ** 8 as text, bytes(2**62))
# held: MemoryError, OverflowError or ValueError, each caught; nothing crashes
# expect: ok
# value: 3
n = 0
for op in (lambda: "x" * (2 ** 62), lambda: bytes(2 ** 62), lambda: str(10 ** 100_000)):
    try:
        op()
    except (MemoryError, OverflowError, ValueError):
        n += 1
n
