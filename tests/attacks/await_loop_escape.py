# attack: leave tasks and a closed or stopped loop behind, to break the next cells' event loop
# held: the next async cell still works
# expect: ok
import asyncio


async def forever():
    while True:
        await asyncio.sleep(0.01)


t = asyncio.ensure_future(forever())
await asyncio.sleep(0)
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
loop.close()
"left a closed loop"
# --- cell ---
# expect: ok
# value: 7
import asyncio
await asyncio.sleep(0)
7
