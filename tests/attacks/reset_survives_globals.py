# attack: hide state from reset in places other than globals (a module attribute, a builtins attribute, an atexit-like registry)
# held: after reset none of it is there
# expect: ok
# next: reset
import builtins, os, sys
builtins._hidden = "kept"
os._hidden = "kept"
sys._hidden = "kept"
# --- reset ---
# expect: ok
# value: [false, false, false]
import builtins, os, sys
[hasattr(builtins, "_hidden"), hasattr(os, "_hidden"), hasattr(sys, "_hidden")]
