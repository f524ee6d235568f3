# attack: os.abort(), a trap inside the interpreter
# held: reported as an interpreter crash (or an error), the host process survives and the next run works
# expect: error InterpreterCrash
# output-lacks: wasm backtrace
import os
os.abort()
