# attack: a long but finite computation (10**11 iterations) meant to use up the fuel budget
# held: stopped by the fuel budget (or the timeout on a loaded machine), deterministically named
# expect: limit fuel|timeout
total = 0
for i in range(10 ** 11):
    total += i
total
