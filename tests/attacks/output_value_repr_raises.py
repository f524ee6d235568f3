# attack: a value whose __repr__ raises and whose JSON form is infinite recursion
# held: the run completes with a placeholder repr; nothing crashes
# expect: ok
class Evil(list):
    def __repr__(self):
        raise SystemExit("repr said exit")


e = Evil()
e.append(e)
e
