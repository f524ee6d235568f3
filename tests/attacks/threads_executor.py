# attack: _thread.start_new_thread, a ThreadPoolExecutor and asyncio.to_thread
# held: none starts a thread
# expect: ok
# value: [true, true, true]
import _thread, asyncio, concurrent.futures
out = []
try:
    _thread.start_new_thread(lambda: None, ())
    out.append(False)
except (RuntimeError, AttributeError):
    out.append(True)
try:
    concurrent.futures.ThreadPoolExecutor(2).submit(lambda: 1).result(timeout=1)
    out.append(False)
except (RuntimeError, AttributeError):
    out.append(True)
try:
    await asyncio.wait_for(asyncio.to_thread(lambda: 1), 1)
    out.append(False)
except (RuntimeError, AttributeError):
    out.append(True)
out
