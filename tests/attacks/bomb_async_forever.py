# attack: an event loop that never finishes (tasks that reschedule themselves, a never-set Event)
# held: the timeout or the fuel budget stops it
# expect: limit timeout|fuel
import asyncio


async def spin():
    while True:
        await asyncio.sleep(0)


await asyncio.sleep(0)
tasks = [asyncio.create_task(spin()) for _ in range(10)]
await asyncio.Event().wait()
