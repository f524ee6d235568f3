# attack: replace sys.stdout, sys.excepthook, sys.displayhook and the recursion limit and leave them broken
# held: the next run still captures output; after reset the recursion limit is back to what it was
# expect: ok
# next: reset
import sys
sys.stdout = None
sys.stderr = None
sys.excepthook = None
sys.displayhook = None
sys.setrecursionlimit(50)
# --- reset ---
# expect: ok
# output-contains: still printing
# value: true
import sys
print("still printing")
sys.getrecursionlimit() > 50
