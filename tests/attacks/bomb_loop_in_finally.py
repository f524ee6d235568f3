# attack: a loop inside `finally` of a loop, and in __del__ of an object, so that unwinding runs more loops
# held: timeout or fuel stops all of it
# expect: limit timeout|fuel
class Stubborn:
    def __del__(self):
        while True:
            pass


s = Stubborn()
try:
    while True:
        pass
finally:
    while True:
        pass
