"""Tracebacks that show the agent's frames, never the runner's."""

from __future__ import annotations

import os
import traceback

from .output import capped

_GUEST_DIR = os.path.dirname(os.path.abspath(__file__))
# Notes kept per exception (`add_note` in a loop must not make the traceback huge).
_MAX_NOTES = 100
_ASYNCIO_DIR = os.path.dirname(os.path.abspath(traceback.__file__)) + os.sep + "asyncio"


def _is_internal(filename: str) -> bool:
    return filename.startswith(_GUEST_DIR) or filename.startswith(_ASYNCIO_DIR)


def _prune(te: traceback.TracebackException, seen: set[int], limit: int) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    # The agent's texts are cut before formatting copies them (a 100 MiB message
    # must come back as itself, cut, not as a MemoryError of the runner).
    te._str = capped(te._str, limit)  # type: ignore[attr-defined]
    if te.__notes__:
        te.__notes__ = [capped(str(note), limit) for note in te.__notes__[:_MAX_NOTES]]
    if isinstance(getattr(te, "text", None), str):
        te.text = capped(te.text, limit)
    # The runner's frames, and asyncio's (the loop driving a top-level `await`, and
    # the task machinery between an `await` and the coroutine that raised), are not
    # the agent's lines: only its cells, skills and the libraries it called remain.
    frames = [f for f in te.stack if not _is_internal(f.filename)]
    te.stack = traceback.StackSummary.from_list(frames)
    for linked in (te.__cause__, te.__context__):
        if linked is not None:
            _prune(linked, seen, limit)
    for nested in te.exceptions or ():
        _prune(nested, seen, limit)


def format_exception(exc: BaseException, limit: int) -> str:
    """Formats `exc` like the interpreter would, without runner frames, in at most
    about `limit` characters."""
    te = traceback.TracebackException.from_exception(exc, capture_locals=False)
    _prune(te, set(), limit)
    kept: list[str] = []
    size = 0
    for chunk in te.format():
        if size + len(chunk) > limit:
            kept.append(chunk[: limit - size])
            kept.append(f"\n... [traceback truncated at {limit} characters]\n")
            break
        kept.append(chunk)
        size += len(chunk)
    return "".join(kept)
