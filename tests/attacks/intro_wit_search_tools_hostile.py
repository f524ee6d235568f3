# attack: the raw search-tools import with an over-cap query, NUL and control bytes, an empty query, a zero and a maximal limit
# held: the over-cap query is refused (Err) before ranking; every other answer is a list of matches with finite scores, best first, within the limit
# expect: ok
# value: [true, true, true, true, true]
import math
from wit_world.imports import tools as t
def sane(found, limit):
    scores = [m.score for m in found]
    return (len(found) <= limit and all(isinstance(s, float) and math.isfinite(s) for s in scores)
            and scores == sorted(scores, reverse=True) and all(isinstance(m.info.name, str) for m in found))
out = []
try:
    t.search_tools("needle " * (3 << 10), 5)
    out.append(False)
except Exception as e:
    out.append(type(e).__name__ == "Err")
out.append(sane(t.search_tools("\x00\x1b[2J\n\r echo", 2**32 - 1), 2**32 - 1))
out.append(sane(t.search_tools("", 3), 3))
out.append(t.search_tools("echo", 0) == [])
out.append(sane(t.search_tools("echo text print", 1), 1))
out
# --- cell ---
# expect: error TypeError|InterpreterCrash
from wit_world.imports import tools as t
t.search_tools(b"echo", 3)
# --- cell ---
# expect: error UnicodeEncodeError|InterpreterCrash
from wit_world.imports import tools as t
t.search_tools("echo\udc80", 3)
