# attack: replace the guest's cell runner (Kernel.run, the export) so that later runs report whatever the agent wants
# held: after reset the runner is the real one again and runs code normally
# expect: any
# next: reset
import sys
cell = sys.modules["codemode_guest.cell"]
cell.Kernel.run = lambda self, code, a, b: None
cell.Kernel._execute = lambda self, code, filename: "forged"
# --- reset ---
# expect: ok
# value: 6
2 * 3
