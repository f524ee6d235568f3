# attack: the same environment dump through the tool's recipe, and awaited through call_async
# held: no host secret or CODEMODE_ variable in either result
# expect: ok
# output-lacks: CODEMODE_ATTACK
import asyncio
[tools.env.show(), await tools.env.call_async()]
