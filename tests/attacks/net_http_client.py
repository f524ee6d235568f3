# attack: http.client and asyncio streams to loopback
# held: both fail
# expect: ok
# value: [true, true]
import asyncio, http.client
out = []
try:
    c = http.client.HTTPConnection("127.0.0.1", 80, timeout=1)
    c.request("GET", "/")
    out.append(False)
except OSError:
    out.append(True)
try:
    await asyncio.wait_for(asyncio.open_connection("127.0.0.1", 80), 1)
    out.append(False)
except (OSError, NotImplementedError, asyncio.TimeoutError):
    out.append(True)
out
