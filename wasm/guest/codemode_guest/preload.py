"""Stdlib modules imported at build time so they are in the snapshot.

Only modules imported while componentize-py pre-initialises the interpreter are
bundled; anything else needs the stdlib directory mounted at run time.
"""

import abc, argparse, array, ast, asyncio, base64, binascii, bisect, calendar  # noqa: E401,F401
import cmath, collections, collections.abc, colorsys, contextlib, copy, csv  # noqa: E401,F401
import dataclasses, datetime, decimal, difflib, enum, fnmatch, fractions  # noqa: E401,F401
import functools, glob, gzip, hashlib, heapq, hmac, html, html.parser, inspect, io  # noqa: E401,F401
import ipaddress, itertools, json, keyword, linecache, locale, math, numbers  # noqa: E401,F401
import operator, os, pathlib, pprint, queue, random, re, secrets, selectors, shlex, statistics  # noqa: E401,F401
import string, struct, sys, textwrap, time, traceback, types, typing, unicodedata  # noqa: E401,F401
import urllib.parse, uuid, weakref, zlib  # noqa: E401,F401
import xml.dom.minidom, xml.etree.ElementTree  # noqa: E401,F401
import email.message, email.policy, email.utils, tomllib, zoneinfo  # noqa: E401,F401

# Imported lazily by the modules above, so they would be missing at run time.
import _ast_unparse, _strptime  # type: ignore[import-not-found]  # noqa: E401,F401  (ast.unparse, datetime.strptime)
import encodings.ascii, encodings.cp1252, encodings.idna, encodings.latin_1  # noqa: E401
import encodings.utf_16, encodings.utf_32, encodings.punycode  # noqa: E401,F401

# Linked into componentize-py's CPython, but keep the guest building if it is not.
with contextlib.suppress(ImportError):
    import sqlite3  # noqa: F401

from asyncio import selector_events as _selector_events

# Past this depth the interpreter overflows the wasm stack, which kills the
# instance instead of raising RecursionError; clamp rather than fail, since
# libraries raise the limit defensively.
MAX_RECURSION_LIMIT = 8000
_setrecursionlimit = sys.setrecursionlimit


def _clamped_setrecursionlimit(limit: int) -> None:
    _setrecursionlimit(min(limit, MAX_RECURSION_LIMIT))


sys.setrecursionlimit = _clamped_setrecursionlimit

# The host mounts the session's installed packages here (read-only).
sys.path.append("/deps")


def _no_self_pipe(loop: _selector_events.BaseSelectorEventLoop) -> None:
    # The selector loop wakes itself through a socketpair; WASI grants no sockets.
    # Nothing here needs cross-thread wake-ups (there are no threads), so drop it.
    loop._ssock = None  # type: ignore[attr-defined]
    loop._csock = None  # type: ignore[attr-defined]


_selector_events.BaseSelectorEventLoop._make_self_pipe = _no_self_pipe  # type: ignore[attr-defined]
_selector_events.BaseSelectorEventLoop._close_self_pipe = lambda loop: None  # type: ignore[attr-defined]


class _WasiSelector(selectors.DefaultSelector):
    """The default selector, minus WASI's one gap: polling an empty set of file
    descriptors traps the instance, and without the self-pipe an event loop often
    has none registered. Then waiting is just sleeping until the next timer."""

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if self.get_map():
            return super().select(timeout)
        if timeout is None:
            raise RuntimeError("the event loop would wait forever: no timers, no I/O and nothing ready")
        if timeout > 0:
            time.sleep(timeout)
        return []


selectors.DefaultSelector = _WasiSelector  # type: ignore[misc]
