"""Capped text streams that stand in for `sys.stdout` and `sys.stderr` during a cell."""

from __future__ import annotations

import io


class CappedStream(io.TextIOBase):
    """Keeps the first `limit` bytes (UTF-8) written and counts the rest."""

    def __init__(self, limit: int, name: str) -> None:
        self._limit = limit
        self._name = name
        self._parts: list[str] = []
        self._kept = 0
        self.dropped = 0

    @property
    def name(self) -> str:  # some libraries print(file=...) and inspect .name
        return self._name

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        size = len(text.encode("utf-8", "surrogatepass"))
        room = self._limit - self._kept
        if size <= room:
            self._parts.append(text)
            self._kept += size
        else:
            if room > 0:
                head = text.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore")
                self._parts.append(head)
                self._kept += room
            self.dropped += size - max(room, 0)
        return len(text)

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def getvalue(self) -> str:
        text = "".join(self._parts)
        if self.dropped:
            text += f"\n[{self._name} truncated: {self.dropped} more bytes]\n"
        return text
