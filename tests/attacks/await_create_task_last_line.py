# attack: a cell whose only top-level await is its last line, on a task created before it (`t = asyncio.create_task(f())` then `await t`)
# held: it works and gives the task's value (it used to fail with `RuntimeError: no running event loop`)
# expect: ok
# value: 42
import asyncio


async def f():
    await asyncio.sleep(0)
    return 42


t = asyncio.create_task(f())
await t
