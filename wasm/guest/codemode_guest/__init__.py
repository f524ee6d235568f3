"""The codemode guest: a Jupyter-style cell runner for CPython on WASI.

componentize-py imports this module at build time and snapshots the initialised
interpreter, so everything imported here (the preloaded stdlib included) costs
nothing when a session starts.
"""

from __future__ import annotations

# First: the snapshot's stdlib and its WASI patches are in place before anything else loads.
from . import preload as _preload  # noqa: F401

# isort: split
import wit_world
import wit_world.exports
from componentize_py_types import Err
from wit_world.exports import runner as wit_runner

from .cell import Kernel
from .output import capped
from .skill_inspect import InspectFailure, inspect_skill

_kernel = Kernel()
# One throwaway cell at build time: the runner's code paths are warmed up (lazy
# imports done, bytecode specialised) in the snapshot every session starts from.
_kernel.warm_up()


class Runner(wit_world.exports.Runner):
    """The exported `runner` interface."""

    # An exception escaping an export traps the whole instance, so each export
    # turns anything unexpected into an ordinary error result.

    def run(self, cell: wit_runner.Cell, options: wit_runner.RunOptions) -> wit_runner.RunResult:
        try:
            if isinstance(cell, wit_runner.Cell_Skill):
                call = cell.value
                return _kernel.invoke(call.name, call.args_json, options.stdout_limit, options.stderr_limit)
            return _kernel.run(cell.value, options.stdout_limit, options.stderr_limit)
        except BaseException as exc:  # noqa: BLE001
            error = wit_runner.CellError("InternalError", capped(f"the runner failed: {exc!r}", 4096), "")
            return wit_runner.RunResult(0, 0, None, error)

    def inspect_skill(self, source: str) -> wit_runner.SkillSignature:
        try:
            return inspect_skill(source)
        except InspectFailure as failure:
            raise Err(wit_runner.InspectError(failure.message, failure.line)) from None
        except Exception as exc:  # noqa: BLE001
            raise Err(wit_runner.InspectError(f"cannot inspect the skill: {exc!r}", None)) from None
