"""The emulator's queued resources are a collaborator of the world, not a mixin reaching into it."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from tpuctl.emulator import queued
from tpuctl.emulator.models import World

PACKAGE = Path(__file__).resolve().parents[2] / "tpuctl"


def test_queued_resources_reach_the_world_only_through_its_public_host_methods():
    host = {name for name in vars(queued.Host) if not name.startswith("_")} | set(queued.Host.__annotations__)
    used = {node.attr for node in ast.walk(ast.parse(inspect.getsource(queued)))
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
            and node.value.attr == "world"}
    assert used <= host and not any(name.startswith("_") for name in host)
    assert not issubclass(World, queued.QueuedResources)
    assert all(callable(getattr(World, name)) for name in host - {"now"})


def test_no_module_of_tpuctl_is_over_450_lines():
    long = {path.relative_to(PACKAGE).as_posix(): n for path in PACKAGE.rglob("*.py")
            if (n := len(path.read_text().splitlines())) > 450}
    assert long == {}
