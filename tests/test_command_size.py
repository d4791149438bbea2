"""A command parses, calls one service and renders: its body stays short. Measured on every
command the `tpuctl` app registers (lines of the function body, its docstring left out)."""

from __future__ import annotations

import ast
import inspect
import statistics
import textwrap

import typer

from tpuctl.cli.app import app

MEDIAN_LIMIT = 10
MAX_LIMIT = 25


def commands(group: typer.Typer, prefix: str = "tpuctl"):
    """(command line, function) for every command and group callback, nested groups included."""
    if group.registered_callback is not None and group.registered_callback.callback is not None:
        yield prefix, group.registered_callback.callback
    for info in group.registered_commands:
        yield f"{prefix} {info.name or info.callback.__name__}", info.callback
    for sub in group.registered_groups:
        yield from commands(sub.typer_instance, f"{prefix} {sub.name}")


def body_lines(fn) -> int:
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    node = tree.body[0]
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    if not body:
        return 0
    return body[-1].end_lineno - body[0].lineno + 1


def sizes() -> dict[str, int]:
    found = {}
    for line, fn in commands(app):
        if fn.__module__.startswith("tpuctl.cli") and fn.__name__ != "root":
            found.setdefault(line, body_lines(fn))
    return found


def test_command_bodies_are_short():
    measured = sizes()
    assert len(measured) > 40
    too_long = {line: n for line, n in measured.items() if n > MAX_LIMIT}
    assert too_long == {}
    assert statistics.median(measured.values()) <= MEDIAN_LIMIT


def test_no_module_in_tpuctl_is_over_450_lines():
    from pathlib import Path

    import tpuctl

    root = Path(tpuctl.__file__).parent
    long = {str(path.relative_to(root)): n for path in root.rglob("*.py")
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 450}
    assert long == {}, "split these by responsibility"
