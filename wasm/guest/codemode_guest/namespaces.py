"""The `tools`, `skills`, `artifacts` and `deps` objects agent code sees.

Each is a thin proxy over the host interface of the same name: every call
crosses the WIT boundary, so the host stays the single source of truth.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import importlib
import inspect
import json
import linecache
import sys
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from componentize_py_types import Err
from wit_world.imports import artifacts as wit_artifacts
from wit_world.imports import deps as wit_deps
from wit_world.imports import skills as wit_skills
from wit_world.imports import tools as wit_tools
from wit_world.imports.types import DefaultValue, DefaultValue_Json, ErrorKind, HostError, Param

from .records import Record, record

# `list` is also a method name in the classes below, where it would shadow the type.
_Records = list[Record]
_Names = list[str]


class CodemodeError(Exception):
    """Base class of the errors the host reports to agent code."""


class ToolError(CodemodeError):
    """A tool call failed."""


class SkillError(CodemodeError):
    """A skill operation failed."""


class ArtifactError(CodemodeError):
    """An artifact operation failed."""


class DepsError(CodemodeError):
    """A dependency operation failed."""


class ToolCallError(ToolError):
    """A tool ran and failed (py-code-mode's name for it)."""


class ToolNotFoundError(ToolError, LookupError):
    """The host has no such tool or recipe."""


class ToolArgumentError(ToolCallError, TypeError):
    """A tool was called with arguments it does not accept."""


class SkillNotFoundError(SkillError, LookupError, ValueError):
    """No skill of that name exists (a ValueError too: py-code-mode raised one)."""


class ArtifactNotFoundError(ArtifactError, LookupError):
    """No artifact of that name exists."""


class RuntimeDepsDisabledError(DepsError, PermissionError):
    """This session may not add or remove packages."""


_ERRORS = (
    CodemodeError,
    ToolError,
    SkillError,
    ArtifactError,
    DepsError,
    ToolCallError,
    ToolNotFoundError,
    ToolArgumentError,
    SkillNotFoundError,
    ArtifactNotFoundError,
    RuntimeDepsDisabledError,
)
for _cls in _ERRORS:
    _cls.__module__ = "builtins"  # tracebacks print `ToolError: ...`, not a guest path

# Per namespace: which exception each host error kind becomes (default: the namespace's own).
_KIND_ERRORS: dict[type[CodemodeError], dict[ErrorKind, type[Exception]]] = {
    ToolError: {
        ErrorKind.INVALID_INPUT: ToolArgumentError,
        ErrorKind.NOT_FOUND: ToolNotFoundError,
        ErrorKind.FAILED: ToolCallError,
    },
    SkillError: {ErrorKind.NOT_FOUND: SkillNotFoundError},
    ArtifactError: {ErrorKind.NOT_FOUND: ArtifactNotFoundError},
    DepsError: {ErrorKind.DENIED: RuntimeDepsDisabledError},
}


def _raise(error: HostError, cls: type[CodemodeError]) -> NoReturn:
    specific = _KIND_ERRORS.get(cls, {}).get(error.kind)
    if specific is not None:
        raise specific(error.message)
    if error.kind == ErrorKind.NOT_FOUND:
        raise LookupError(error.message)
    if error.kind == ErrorKind.INVALID_INPUT:
        raise ValueError(error.message)
    raise cls(error.message)


def _text(value: object, what: str) -> str:
    """`value` if it is a str the host can receive; a clear error otherwise (the
    bindings would trap on anything else and lose the interpreter)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise ValueError(f"{what} is not valid text (a lone surrogate at {err.start})") from None
    return value


def _count(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**32:
        raise ValueError(f"{what} must be an int from 0 to {2**32 - 1}, not {value!r:.40}")
    return value


def _call[T](cls: type[CodemodeError], fn: Callable[..., T], *args: Any) -> T:
    for arg in args:
        if isinstance(arg, str):
            _text(arg, "an argument")
    try:
        return fn(*args)
    except Err as err:
        error = err.value
    # Raised outside the `except`, so the agent's traceback does not show the
    # binding layer's exception as the context of this one.
    _raise(error, cls)


def _no_positional(what: str, args: tuple[Any, ...]) -> None:
    if args:
        raise TypeError(f"{what} takes keyword arguments only (got {len(args)} positional)")


def _default(value: DefaultValue | None) -> str | None:
    """A default as Python source, for signatures: JSON as its Python value's repr,
    source (a skill default no literal holds) as written."""
    if value is None:
        return None
    if isinstance(value, DefaultValue_Json):
        try:
            return repr(json.loads(value.value))
        except ValueError:
            return None
    return value.value


def _default_value(value: DefaultValue | None) -> Any:
    """A default as the typed value listings give: `80`, `'localhost'`, `True`;
    `None` when there is none or no literal holds it."""
    if isinstance(value, DefaultValue_Json):
        try:
            return json.loads(value.value)
        except ValueError:
            return None
    return None


def _signature(name: str, params: list[Param]) -> str:
    """`get(url: str | None = None)`, as py-code-mode shows it: required first."""
    parts = []
    for p in sorted(params, key=lambda p: not p.required):
        kind = p.type_name or "str"
        default = _default(p.default)
        if p.required:
            parts.append(f"{p.name}: {kind}")
        elif default is not None:
            parts.append(f"{p.name}: {kind} = {default}")
        else:
            parts.append(f"{p.name}: {kind} | None = None")
    return f"{name}({', '.join(parts)})"


def _doc(description: str, params: list[Param]) -> str:
    lines = [description or "(no description)", ""]
    lines += [f"    {p.name}: {p.description}" for p in params if p.description]
    return "\n".join(lines).rstrip()


class _Callable:
    """One way to call a tool; keyword arguments only. `stdin=` feeds a CLI tool's input."""

    def __init__(self, tool: str, info: wit_tools.CallableInfo | None) -> None:
        self._tool = tool
        self._info = info or wit_tools.CallableInfo(None, "", [])
        self.__doc__ = _doc(self._info.description, self._info.params)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        _no_positional(self._label(), args)
        payload = json.dumps(kwargs)
        return json.loads(_call(ToolError, wit_tools.call_tool, self._tool, self._info.name, payload))

    async def call_async(self, **kwargs: Any) -> Any:
        """The same call, awaitable (the host call itself blocks only this session)."""
        return self(**kwargs)

    def signature(self) -> str:
        return _signature(self._info.name or self._tool, self._info.params)

    def _label(self) -> str:
        return self._tool if self._info.name is None else f"{self._tool}.{self._info.name}"

    def __repr__(self) -> str:
        return f"<tool {self._tool}: {self.signature()}>"


class _Tool(_Callable):
    """A tool: call it directly (`tools.curl(url=...)`) or through a recipe (`tools.curl.get(url=...)`)."""

    def __init__(self, info: wit_tools.ToolInfo) -> None:
        # HTTP tools have only endpoints; the host explains if one is called directly.
        direct = next((c for c in info.callables if c.name is None), None)
        super().__init__(info.name, direct)
        self._recipes = {c.name: c for c in info.callables if c.name is not None}
        self._unlisted = not info.callables
        recipes = "\n".join(f"  {_signature(n, c.params)}: {c.description}" for n, c in self._recipes.items())
        description = _described(info)
        self.__doc__ = f"{description}\n\nRecipes:\n{recipes}" if recipes else description

    def __getattr__(self, name: str) -> _Callable:
        if name.startswith("_"):
            raise AttributeError(name)
        recipe = _lookup(self._recipes, name)
        if recipe is None and self._unlisted:
            # An MCP server that is down lists nothing: the host says why when called.
            return _Callable(self._tool, wit_tools.CallableInfo(name, "", []))
        if recipe is None:
            available = ", ".join(self._recipes) or "none"
            raise AttributeError(f"tool {self._tool!r} has no recipe {name!r}; available: {available}")
        return _Callable(self._tool, recipe)

    def list(self) -> _Records:
        return [
            record(name=n, description=c.description, signature=_signature(n, c.params))
            for n, c in self._recipes.items()
        ]

    def __dir__(self) -> _Names:
        return sorted([*_identifiers(self._recipes), "list", "signature", "call_async"])


class Tools:
    """The host's tools: `tools.<name>.<recipe>(**kw)`, `tools.<name>(**kw)`,
    `tools.list()`, `tools.search(query)`, `tools.describe()`. Failures raise `ToolError`."""

    def __init__(self) -> None:
        self._known: dict[str, wit_tools.ToolInfo] | None = None

    def _tools(self) -> dict[str, wit_tools.ToolInfo]:
        # The session's tools do not change while it lives.
        if self._known is None:
            self._known = {t.name: t for t in wit_tools.list_tools()}
        return self._known

    def __getattr__(self, name: str) -> _Tool:
        if name.startswith("_"):
            raise AttributeError(name)
        info = _lookup(self._tools(), name)
        if info is None:
            available = ", ".join(sorted(self._tools())) or "none (no tools are configured)"
            raise AttributeError(f"no tool named {name!r}; available: {available}")
        return _Tool(info)

    def list(self) -> _Records:
        return [_tool_dict(t) for t in self._tools().values()]

    def search(self, query: str, limit: int = 10) -> _Records:
        found = _call(ToolError, wit_tools.search_tools, _text(query, "query"), _count(limit, "limit"))
        return [Record(_tool_dict(m.info), score=round(m.score, 4)) for m in found]

    def describe(self) -> str:
        """Every tool as a compact Python stub: typed signatures, defaults, one-line docs."""
        return wit_tools.describe_tools()

    def __dir__(self) -> _Names:
        return _identifiers(self._tools())

    def __repr__(self) -> str:
        return f"<tools: {', '.join(sorted(self._tools())) or 'none'}>"


def _lookup[T](named: dict[str, T], name: str) -> T | None:
    # MCP servers and upstream YAML use names like `get-sum`; `tools.x.get_sum` finds them.
    found = named.get(name)
    return found if found is not None else named.get(name.replace("_", "-"))


def _identifiers(names: Iterable[str]) -> list[str]:
    return sorted(n.replace("-", "_") for n in names)


def _param_dict(p: Param) -> Record:
    return record(
        name=p.name,
        type=p.type_name,
        required=p.required,
        default=_default_value(p.default),
        description=p.description,
    )


def _described(tool: wit_tools.ToolInfo) -> str:
    """The tool's description, saying why it cannot be used if it cannot."""
    if tool.unavailable is None:
        return tool.description
    return f"{tool.description} (unavailable: {tool.unavailable})".lstrip()


def _tool_dict(tool: wit_tools.ToolInfo) -> Record:
    """The host's listing shape (py-code-mode's): `callables` are the recipes; calling
    the tool itself takes the tool's own `parameters` (`None` if it cannot be)."""
    direct = next((c for c in tool.callables if c.name is None), None)
    return record(
        name=tool.name,
        description=_described(tool),
        tags=list(tool.tags),
        callables=[
            record(
                name=c.name,
                description=c.description,
                signature=_signature(c.name or tool.name, c.params),
                parameters=[_param_dict(p) for p in c.params],
            )
            for c in tool.callables
            if c.name is not None
        ],
        parameters=None if direct is None else [_param_dict(p) for p in direct.params],
        signature=None if direct is None else _signature(tool.name, direct.params),
        unavailable=tool.unavailable,
    )


def _skill_dict(info: wit_skills.SkillInfo) -> Record:
    return record(
        name=info.name,
        description=info.description,
        parameters=[_param_dict(p) for p in info.params],
        is_async=info.is_async,
        needs={"tools": list(info.needs_tools), "skills": list(info.needs_skills)},
        unavailable=info.unavailable,
        verified="never" if info.verified is None else info.verified,
    )


# How deep skills may call skills (a -> b -> a -> ...) before it is called a loop.
MAX_SKILL_DEPTH = 16


class Skills:
    """Saved workflows: `skills.<name>(**kw)`, `skills.invoke(name, **kw)`, `skills.list()`,
    `skills.search(query)`, `skills.get(name)`, `skills.create(name, source, examples=[...])`,
    `skills.test(name=None)`, `skills.delete(name)`, `skills.history(name)`,
    `skills.rollback(name, version)`, `skills.describe()`.

    A skill runs in fresh globals holding `tools`, `skills`, `artifacts` and `deps`
    (never the caller's variables); `async def run` skills are awaited for you.
    """

    def __init__(self) -> None:
        self._stack: list[str] = []

    def list(self) -> _Records:
        return [_skill_dict(s) for s in _call(SkillError, wit_skills.list_skills)]

    def search(self, query: str, limit: int = 10) -> _Records:
        result = _call(SkillError, wit_skills.search_skills, _text(query, "query"), _count(limit, "limit"))
        if result.notice:
            print(f"note: {result.notice}", file=sys.stderr)
        return [Record(_skill_dict(m.info), score=round(m.score, 4)) for m in result.matches]

    def get(self, name: str) -> Record | None:
        try:
            skill = _call(SkillError, wit_skills.get_skill, _text(name, "name"))
        except LookupError:
            return None
        verification = None if skill.verification_json is None else json.loads(skill.verification_json)
        return Record(
            _skill_dict(skill.info),
            source=skill.source,
            examples=json.loads(skill.examples_json),
            verification=verification,
        )

    def create(
        self,
        name: str,
        source: str,
        description: str | None = None,
        examples: Iterable[dict[str, Any]] | None = None,
    ) -> Record:
        """Saves a skill. Each of `examples` (`{"args": {...}, "expect": value}`) runs
        first in a fresh interpreter; one that raises or returns anything but
        `expect` refuses the save with the difference, and nothing is written."""
        if description is not None:
            description = _text(description, "description")
        examples_json = _examples_json(examples)
        created = _call(
            SkillError,
            wit_skills.create_skill,
            _text(name, "name"),
            _text(source, "source"),
            description,
            examples_json,
        )
        return Record(_skill_dict(created.info), replaced=created.replaced)

    def test(self, name: str | None = None) -> Record:
        """Runs the examples of skill `name` again, or of every skill: which pass,
        which fail and why, and a `summary`."""
        if name is not None:
            name = _text(name, "name")
        report = json.loads(_call(SkillError, wit_skills.test_skills, name))
        return Record(report)

    def delete(self, name: str) -> bool:
        return _call(SkillError, wit_skills.delete_skill, _text(name, "name"))

    def history(self, name: str) -> _Records:
        """The skill's versions, oldest first, the current one last (at most 20 kept)."""
        return [
            record(
                version=v.version,
                created_at=v.created_at,
                description=v.description,
                current=v.current,
                untrusted=v.untrusted,
            )
            for v in _call(SkillError, wit_skills.skill_history, _text(name, "name"))
        ]

    def rollback(self, name: str, version: int) -> Record:
        """Restores `version` (from `history`) as the new current version; undo it
        with another rollback."""
        done = _call(SkillError, wit_skills.rollback_skill, _text(name, "name"), _count(version, "version"))
        return Record(_skill_dict(done.info), version=done.version)

    def describe(self) -> str:
        """Every skill as a compact Python stub: typed signatures, defaults, one-line docs."""
        return _call(SkillError, wit_skills.describe_skills)

    def invoke(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        name = _text(name, "name")
        _no_positional(f"skills.invoke({name!r})", args)
        if len(self._stack) >= MAX_SKILL_DEPTH:
            chain = " -> ".join([*self._stack, name])
            raise SkillError(f"skills nested deeper than {MAX_SKILL_DEPTH}: {chain}")
        # The host refuses a skill saved by a narrower session; the rest of what
        # makes it unavailable (a needed tool or skill missing) is said here.
        skill = _call(SkillError, wit_skills.get_skill_to_run, name)
        if skill.info.unavailable is not None:
            # Said before anything runs, rather than as a failure halfway through.
            raise SkillError(f"skill {name!r} cannot run: {skill.info.unavailable}")
        self._stack.append(name)
        try:
            return _run_skill(name, skill.source, kwargs)
        finally:
            self._stack.pop()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        available = [s.name for s in _call(SkillError, wit_skills.list_skills)]
        if name not in available:
            raise AttributeError(f"no skill named {name!r}; available: {', '.join(available) or 'none'}")
        return functools.partial(self.invoke, name)

    def __dir__(self) -> _Names:
        return sorted(s.name for s in _call(SkillError, wit_skills.list_skills))

    def __repr__(self) -> str:
        return "<skills>"


def _examples_json(examples: Iterable[dict[str, Any]] | None) -> str:
    """The examples as JSON for the host (which checks them again, and caps them)."""
    if examples is None:
        return "[]"
    if isinstance(examples, (str, bytes, dict)):
        raise TypeError("examples must be a list of {'args': {...}, 'expect': value}")
    try:
        return json.dumps(list(examples), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"examples must be JSON data (args and expect): {exc}") from None


def run_example(name: str, source: str, args_json: str) -> Any:
    """Runs `source` as the skill `name` with the JSON object `args_json` as its
    arguments: what the host runs, in a fresh interpreter, to check an example."""
    args = json.loads(args_json)
    if not isinstance(args, dict):
        raise TypeError("an example's args must be a JSON object")
    return _run_skill(name, source, args)


def _run_skill(name: str, source: str, kwargs: dict[str, Any]) -> Any:
    filename = f"skills/{name}.py"
    # Registered so tracebacks inside the skill show its own lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {
        "__name__": f"skills.{name}",
        "__file__": filename,
        "__builtins__": builtins,
        **agent_namespace(),
    }
    exec(compile(source, filename, "exec", dont_inherit=True), namespace)  # noqa: S102
    run = namespace.get("run")
    if not callable(run):
        raise SkillError(f"skill {name!r} has no callable `run`")
    result = run(**_with_injected(run, namespace, kwargs))
    if inspect.isawaitable(result):
        result = _wait(result)
    return result


def _with_injected(run: Callable[..., Any], namespace: dict[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` plus the namespaces `run` declares as parameters (`def run(tools, ...)`)
    and the caller did not pass: listings leave them out, so callers never do."""
    try:
        declared = inspect.signature(run).parameters
    except TypeError, ValueError:
        return kwargs
    injected = {n: namespace[n] for n in _INJECTED if n in declared and n not in kwargs}
    return {**injected, **kwargs} if injected else kwargs


_INJECTED = ("tools", "skills", "artifacts", "deps")


def invoke_for_host(name: str, args_json: str) -> Any:
    """`skills.invoke(name, **args)` for the host, with `args` a JSON object; the
    traceback of a failure starts in the skill."""
    args = json.loads(args_json)
    if not isinstance(args, dict):
        raise TypeError("a skill's arguments must be a JSON object")
    skills: Skills = _NAMESPACE["skills"]
    return skills.invoke(name, **args)


def _wait(awaitable: Any) -> Any:
    """Runs an awaitable to completion from synchronous code, even inside a running
    event loop (a top-level `await` cell, or an async skill calling a skill).

    The caller is blocked either way, so its loop makes no progress meanwhile: a
    private loop runs the awaitable, and the caller's loop and current task are put
    back afterwards. This is what keeps sync calls from async code from deadlocking.
    """
    outer = asyncio.events._get_running_loop()
    # asyncio refuses to step a task while another one counts as running.
    swap = asyncio.tasks._swap_current_task  # type: ignore[attr-defined]
    outer_task = swap(outer, None) if outer is not None else None
    asyncio.events._set_running_loop(None)
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(awaitable)
    finally:
        loop.close()
        asyncio.events._set_running_loop(outer)
        if outer is not None:
            swap(outer, outer_task)


_KINDS = {
    wit_artifacts.DataKind.JSON: "json",
    wit_artifacts.DataKind.TEXT: "text",
    wit_artifacts.DataKind.BYTES: "bytes",
}


def _artifact_dict(info: wit_artifacts.ArtifactInfo) -> Record:
    return record(
        name=info.name,
        description=info.description,
        kind=_KINDS[info.kind],
        size=info.size,
        created_at=info.created_at,
        metadata=json.loads(info.metadata_json),
    )


class Artifacts:
    """`artifacts.save(name, data)`, `load`, `exists`, `get`, `list`, `delete`."""

    def save(self, name: str, data: Any, description: str = "", metadata: dict[str, Any] | None = None) -> Record:
        if isinstance(data, (dict, list)):
            kind, raw = wit_artifacts.DataKind.JSON, json.dumps(data).encode()
        elif isinstance(data, str):
            kind, raw = wit_artifacts.DataKind.TEXT, data.encode()
        elif isinstance(data, (bytes, bytearray, memoryview)):
            kind, raw = wit_artifacts.DataKind.BYTES, bytes(data)
        else:
            raise TypeError(f"artifacts hold dict, list, str or bytes, not {type(data).__name__}")
        meta = json.dumps(metadata or {})
        name, description = _text(name, "name"), _text(description, "description")
        return _artifact_dict(_call(ArtifactError, wit_artifacts.save_artifact, name, raw, kind, description, meta))

    def load(self, name: str) -> Any:
        artifact = _call(ArtifactError, wit_artifacts.load_artifact, _text(name, "name"))
        if artifact.info.kind == wit_artifacts.DataKind.JSON:
            return json.loads(artifact.data)
        if artifact.info.kind == wit_artifacts.DataKind.TEXT:
            return artifact.data.decode()
        return artifact.data

    def exists(self, name: str) -> bool:
        return _call(ArtifactError, wit_artifacts.get_artifact_info, _text(name, "name")) is not None

    def get(self, name: str) -> Record | None:
        info = _call(ArtifactError, wit_artifacts.get_artifact_info, _text(name, "name"))
        return None if info is None else _artifact_dict(info)

    def list(self) -> _Records:
        return [_artifact_dict(a) for a in _call(ArtifactError, wit_artifacts.list_artifacts)]

    def delete(self, name: str) -> bool:
        return _call(ArtifactError, wit_artifacts.delete_artifact, _text(name, "name"))

    def __repr__(self) -> str:
        return "<artifacts>"


class Deps:
    """`deps.add(spec)`, `deps.remove(name)`, `deps.list()`, `deps.sync()`.

    Packages are installed by the host and appear under `/deps`, already on
    `sys.path`; import caches are refreshed so `import` works right away.
    """

    def add(self, spec: str) -> str:
        added = _call(DepsError, wit_deps.add_dep, _text(spec, "spec"))
        importlib.invalidate_caches()
        return added

    def remove(self, name: str) -> bool:
        removed = _call(DepsError, wit_deps.remove_dep, _text(name, "name"))
        importlib.invalidate_caches()
        return removed

    def list(self) -> _Names:
        return [r.spec for r in _call(DepsError, wit_deps.list_deps)]

    def sync(self) -> _Names:
        synced = _call(DepsError, wit_deps.sync_deps)
        importlib.invalidate_caches()
        return [r.spec for r in synced]

    def __repr__(self) -> str:
        return "<deps>"


_NAMESPACE: dict[str, Any] = {
    "tools": Tools(),
    "skills": Skills(),
    "artifacts": Artifacts(),
    "deps": Deps(),
    "CodemodeError": CodemodeError,
    "ToolError": ToolError,
    "ToolArgumentError": ToolArgumentError,
    "ToolCallError": ToolCallError,
    "ToolNotFoundError": ToolNotFoundError,
    "SkillError": SkillError,
    "SkillNotFoundError": SkillNotFoundError,
    "ArtifactError": ArtifactError,
    "DepsError": DepsError,
    "ArtifactNotFoundError": ArtifactNotFoundError,
    "RuntimeDepsDisabledError": RuntimeDepsDisabledError,
}


def agent_namespace() -> dict[str, Any]:
    """The names every cell starts with."""
    return dict(_NAMESPACE)
