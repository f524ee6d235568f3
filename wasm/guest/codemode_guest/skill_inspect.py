"""Describes a skill's `run` entry point from its source, without executing it."""

from __future__ import annotations

import ast

from wit_world.exports import runner as wit_runner
from wit_world.imports.types import DefaultValue_Source, Param


class InspectFailure(Exception):
    """The source is not a valid skill."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


_Function = ast.FunctionDef | ast.AsyncFunctionDef


def inspect_skill(source: str) -> wit_runner.SkillSignature:
    """Parses `source` with `ast` and returns the signature of its top-level `run`."""
    try:
        tree = ast.parse(source, "<skill>", "exec")
    except SyntaxError as exc:
        raise InspectFailure(f"syntax error: {exc.msg}", exc.lineno) from None
    run = _find_run(tree)
    docstring = ast.get_docstring(tree) or ast.get_docstring(run) or ""
    tools, skills = _needs(tree)
    return wit_runner.SkillSignature(
        isinstance(run, ast.AsyncFunctionDef), _params(run.args), docstring.strip(), tools, skills
    )


# The namespaces' own methods, which are not tools or skills.
_TOOLS_OWN = frozenset({"list", "search", "describe"})
_SKILLS_OWN = frozenset({"list", "search", "get", "invoke", "create", "delete", "describe"})


def _needs(tree: ast.Module) -> tuple[list[str], list[str]]:
    """The tools (`tools.x`, `tools.x.y`) and skills (`skills.x(...)`,
    `skills.invoke("x")`) the source names anywhere; names built at run time are
    not seen. The host sorts, deduplicates and caps them."""
    tools: set[str] = set()
    skills: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and not node.attr.startswith("_"):
            if node.value.id == "tools" and node.attr not in _TOOLS_OWN:
                tools.add(node.attr)
            elif node.value.id == "skills" and node.attr not in _SKILLS_OWN:
                skills.add(node.attr)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "invoke"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "skills"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            skills.add(node.args[0].value)
    return sorted(tools), sorted(skills)


def _find_run(tree: ast.Module) -> _Function:
    # The last top-level binding of `run` wins, as it would when the module runs.
    found: ast.stmt | None = None
    for node in tree.body:
        if (
            (isinstance(node, _Function) and node.name == "run")
            or (isinstance(node, ast.ClassDef) and node.name == "run")
            or _assigns_run(node)
        ):
            found = node
    if found is None:
        raise InspectFailure("no top-level `run` function: a skill must define `def run(...)` or `async def run(...)`")
    if not isinstance(found, _Function):
        raise InspectFailure("`run` must be a function defined with `def` or `async def`", found.lineno)
    return found


def _assigns_run(node: ast.stmt) -> bool:
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        return any((alias.asname or alias.name) == "run" for alias in node.names)
    return any(isinstance(t, ast.Name) and t.id == "run" for t in targets)


def _params(args: ast.arguments) -> list[Param]:
    params: list[Param] = []
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for arg, default in zip(positional, defaults, strict=True):
        params.append(_param(arg, default))
    if args.vararg is not None:
        params.append(_param(args.vararg, None, prefix="*", required=False))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        params.append(_param(arg, default))
    if args.kwarg is not None:
        params.append(_param(args.kwarg, None, prefix="**", required=False))
    return params


def _param(arg: ast.arg, default: ast.expr | None, prefix: str = "", required: bool | None = None) -> Param:
    return Param(
        prefix + arg.arg,
        ast.unparse(arg.annotation) if arg.annotation is not None else None,
        default is None if required is None else required,
        DefaultValue_Source(ast.unparse(default)) if default is not None else None,
        "",
    )
