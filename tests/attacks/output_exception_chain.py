# attack: a chain of 1,000 exceptions, each the context of the next, for a huge traceback
# held: the traceback stays within the cap; the last exception's kind is named
# expect: error LookupError
# max-result-bytes: 400000
def chain(n):
    try:
        if n:
            chain(n - 1)
        else:
            raise ValueError("root " * 20)
    except Exception as e:
        raise LookupError(f"level {n} " * 20) from e


import sys
sys.setrecursionlimit(3000)
chain(1000)
