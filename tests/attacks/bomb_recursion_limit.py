# attack: raise the recursion limit to a billion, then recurse without end (overflowing the native stack)
# held: RecursionError (the limit is clamped) or the stack limit (or, on a loaded machine, the clock), never a host crash
# expect: error RecursionError or limit stack|timeout|fuel
import sys
sys.setrecursionlimit(10 ** 9)


def f(n):
    return f(n + 1)


f(0)
