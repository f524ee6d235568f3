# attack: replace builtins.compile, which the cell runner itself uses, so every later run fails; then reset
# held: reset gives a fresh interpreter: the cell after it runs and compile is the real one again
# expect: ok
# next: reset
import builtins
builtins.compile = lambda *a, **k: 1 / 0
# --- reset ---
# expect: ok
# value: true
import builtins
type(builtins.compile).__name__ == "builtin_function_or_method" and eval("1 + 1") == 2
