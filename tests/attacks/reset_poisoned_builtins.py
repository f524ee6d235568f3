# attack: tamper with builtins (print, len, repr, isinstance, __import__) and expect the damage to outlive reset
# held: after reset every builtin is the original
# expect: any
# next: reset
import builtins
_real_import = builtins.__import__
builtins.print = None
builtins.len = lambda x: 0
builtins.repr = lambda x: "poisoned"
builtins.isinstance = lambda *a: False
builtins.__import__ = lambda name, *a, **k: (_ for _ in ()).throw(ImportError("poisoned " + name))
# --- reset ---
# expect: ok
# value: [true, 3, "'a'"]
import builtins
[builtins.print.__module__ == "builtins", len([1, 2, 3]), repr("a")]
