# attack: os._exit(3), which kills the interpreter without unwinding (it used to be reported as a wasm backtrace)
# held: a clear message that names the exit, no wasm backtrace; the next run works
# expect: any
# output-lacks: wasm backtrace
# output-lacks: error while executing
# output-contains: exit
import os
os._exit(3)
