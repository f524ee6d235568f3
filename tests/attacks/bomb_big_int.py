# attack: a huge integer power (10 ** 10 ** 9), whose computation runs inside one C call
# held: stopped by the timeout, the fuel budget or the memory cap
# expect: limit timeout|fuel|memory or error MemoryError
x = 10 ** (10 ** 9)
