"""Runs agent cells with Jupyter semantics in one persistent namespace."""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import linecache
import sys
import types
from collections.abc import Callable
from typing import Any

from wit_world.exports import runner as wit_runner

from . import namespaces
from .output import CappedStream, capped
from .tracebacks import format_exception

# `await` at top level compiles to a coroutine code object instead of a SyntaxError.
_COMPILE_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
# Where a cell leaves its last expression's value: not an identifier, so agent
# code cannot name it.
_LAST_VALUE = "<cell value>"


class Kernel:
    """One interpreter session: globals, cell counter and event loop."""

    def __init__(self) -> None:
        self._cell = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.globals: dict[str, Any] = {}
        self.reset()

    def reset(self) -> None:
        for name in [n for n in linecache.cache if n.startswith("<cell-")]:
            del linecache.cache[name]
        if self._loop is not None and not self._loop.is_closed():
            self._loop.close()
        self._loop = None
        self.globals = {"__name__": "__main__", "__builtins__": __builtins__, **namespaces.agent_namespace()}

    def warm_up(self) -> None:
        """Runs a representative cell once, then forgets it."""
        self.run("import asyncio\n_warm = [i * 2 for i in range(8)]\n{'k': _warm}", 0, 0)
        self.run("1 / 0", 0, 0)
        self._cell = 0
        self.reset()

    def run(self, code: str, stdout_limit: int, stderr_limit: int) -> wit_runner.RunResult:
        self._cell += 1
        filename = f"<cell-{self._cell}>"
        # Registered so tracebacks (and `inspect.getsource`) can show the agent's lines.
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        return self._capture(lambda: self._execute(code, filename), stdout_limit, stderr_limit)

    def invoke(self, name: str, args_json: str, stdout_limit: int, stderr_limit: int) -> wit_runner.RunResult:
        """Runs the skill `name` as `skills.invoke(name, **args)` would, for the host."""
        return self._capture(lambda: namespaces.invoke_for_host(name, args_json), stdout_limit, stderr_limit)

    def _capture(self, action: Callable[[], Any], stdout_limit: int, stderr_limit: int) -> wit_runner.RunResult:
        """Runs `action` with capped output; its value or exception is the result."""
        stdout = CappedStream(1, stdout_limit, "stdout")
        stderr = CappedStream(2, stderr_limit, "stderr")
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = stdout, stderr
        value: wit_runner.Value | None = None
        error: wit_runner.CellError | None = None
        try:
            result = action()
            if result is not None:
                self.globals["_"] = result
                value = _describe_value(result, stdout_limit)
        except BaseException as exc:  # noqa: BLE001  (SystemExit and KeyboardInterrupt are the agent's too)
            message = capped(_safe_str(exc), stderr_limit)
            error = wit_runner.CellError(type(exc).__name__, message, format_exception(exc, stderr_limit))
        finally:
            sys.stdout, sys.stderr = saved
            stdout.flush()
            stderr.flush()
        return wit_runner.RunResult(stdout.dropped, stderr.dropped, value, error)

    def _execute(self, code: str, filename: str) -> Any:
        try:
            tree = ast.parse(code, filename, "exec")
        except SyntaxError as exc:
            # The agent's mistake, not `ast`'s: shown as the interpreter shows one,
            # with no frames (the runner's are pruned, `ast.py`'s go here).
            raise exc.with_traceback(None) from None
        # The whole cell is one code object, so one `await` anywhere makes all of it
        # run inside the event loop (`asyncio.create_task` in an early line included).
        last = tree.body[-1] if tree.body else None
        has_value = isinstance(last, ast.Expr)
        if isinstance(last, ast.Expr):
            target = ast.Name(_LAST_VALUE, ast.Store())
            tree.body[-1] = ast.copy_location(ast.Assign(targets=[target], value=last.value), last)
            ast.fix_missing_locations(tree)
        self.globals.pop(_LAST_VALUE, None)
        self._evaluate(compile(tree, filename, "exec", flags=_COMPILE_FLAGS, dont_inherit=True))
        return self.globals.pop(_LAST_VALUE, None) if has_value else None

    def _evaluate(self, code: types.CodeType) -> Any:
        result = eval(code, self.globals)  # noqa: S307  (running agent code is the point)
        if code.co_flags & inspect.CO_COROUTINE:
            result = self._event_loop().run_until_complete(result)
        return result

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        return self._loop


def _describe_value(value: Any, limit: int) -> wit_runner.Value:
    text = _safe_repr(value)
    if len(text) > limit:
        # Its JSON would be over the limit too: not worth building.
        return wit_runner.Value(capped(text, limit), None)
    try:
        encoded: str | None = json.dumps(value, allow_nan=False)
    except TypeError, ValueError, RecursionError, MemoryError:
        encoded = None
    if encoded is not None and len(encoded) > limit:
        encoded = None
    return wit_runner.Value(text, encoded)


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except BaseException as exc:  # noqa: BLE001  (a broken __repr__ must not lose the run)
        return f"<{type(value).__name__} object; repr() raised {type(exc).__name__}>"


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except BaseException:  # noqa: BLE001
        return ""
