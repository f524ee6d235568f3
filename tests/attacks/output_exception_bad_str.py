# attack: an exception whose __str__ raises, and one whose __str__ returns 20 MiB
# held: the kind is still named and the result is under the cap
# expect: error Sneaky
# max-result-bytes: 400000
class Sneaky(Exception):
    def __str__(self):
        return "s" * (20 << 20)

    def __repr__(self):
        raise RuntimeError("no repr for you")


raise Sneaky()
