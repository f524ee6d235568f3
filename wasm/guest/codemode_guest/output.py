"""`sys.stdout` and `sys.stderr` during a cell: capped, line-buffered writers.

Text goes to the WASI stream (file descriptor 1 or 2) line by line, where the host
captures it, so output printed before a limit stops the guest is not lost. Past
the cap, bytes are only counted: nothing more crosses to the host.
"""

from __future__ import annotations

import io
import os

# A partial line is sent once this much is pending, so `print(end="")` loops
# still reach the host.
_FLUSH_AT = 8192


class CappedStream(io.TextIOBase):
    """Writes up to `limit` bytes (UTF-8) to `fd` and counts the rest."""

    def __init__(self, fd: int, limit: int, name: str) -> None:
        self._fd = fd
        self._room = limit
        self._name = name
        self._pending: list[bytes] = []
        self._pending_size = 0
        self.dropped = 0

    @property
    def name(self) -> str:  # some libraries look at .name of the file they print to
        return f"<{self._name}>"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        data = text.encode("utf-8", "surrogatepass")
        if len(data) > self._room:
            # Cut at a character boundary; the rest is only counted.
            kept = data[: self._room].decode("utf-8", "ignore").encode("utf-8", "surrogatepass")
            self.dropped += len(data) - len(kept)
            data = kept
        if data:
            self._room -= len(data)
            self._pending.append(data)
            self._pending_size += len(data)
            if b"\n" in data or self._pending_size >= _FLUSH_AT:
                self.flush()
        return len(text)

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]


def capped(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"... [truncated: {len(text) - limit} more characters]"
