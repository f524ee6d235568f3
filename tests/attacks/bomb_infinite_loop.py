# attack: an infinite loop
# held: stopped by the wall clock (timeout) or the fuel budget; the next run works on a fresh interpreter
# expect: limit timeout|fuel
while True:
    pass
