"""Tracebacks that show the agent's frames, never the runner's."""

from __future__ import annotations

import os
import traceback

_GUEST_DIR = os.path.dirname(os.path.abspath(__file__))
_ASYNCIO_DIR = os.path.dirname(os.path.abspath(traceback.__file__)) + os.sep + "asyncio"


def _is_internal(filename: str) -> bool:
    return filename.startswith(_GUEST_DIR) or filename.startswith(_ASYNCIO_DIR)


def _prune(te: traceback.TracebackException, seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    frames = list(te.stack)
    # Frames before the agent's first frame belong to the runner and to the event
    # loop driving a top-level `await`; frames after it are the agent's call chain
    # (which may legitimately pass through asyncio), minus the runner's own.
    while frames and _is_internal(frames[0].filename):
        frames.pop(0)
    frames = [f for f in frames if not f.filename.startswith(_GUEST_DIR)]
    te.stack = traceback.StackSummary.from_list(frames)
    for linked in (te.__cause__, te.__context__):
        if linked is not None:
            _prune(linked, seen)
    for nested in te.exceptions or ():
        _prune(nested, seen)


def format_exception(exc: BaseException) -> str:
    """Formats `exc` like the interpreter would, without runner frames."""
    te = traceback.TracebackException.from_exception(exc, capture_locals=False)
    _prune(te, set())
    return "".join(te.format())
