"""The layers of tpuctl point one way: cli -> services -> adapters, all may use the domain; the
emulator stands apart. Checked on the source, so a new upward import fails here."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tpuctl"

# layer -> the tpuctl layers it may import (besides itself and the leaf modules below)
ALLOWED = {
    "domain": {"domain"},
    "adapters": {"domain", "adapters", "emulator"},     # the local profile runs the emulator in-process
    "services": {"domain", "adapters", "services"},
    "agent": {"domain", "adapters", "services", "agent"},
    "emulator": {"domain", "emulator"},
    "cli": {"domain", "services", "cli", "agent", "emulator"},
}
LEAVES = {"errors", "config", "__init__", "__main__", "data"}     # no layer: anyone may import them
WIRING = "tpuctl/cli/session.py"        # the one CLI module that builds adapters
# Imports across layers not yet untangled. This list may only shrink.
KNOWN: set[tuple[str, str]] = set()


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tpuctl."):
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("tpuctl.")]
    return found


def test_no_module_imports_upward_and_only_the_wiring_module_builds_adapters():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).as_posix()
        layer = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if layer in LEAVES:
            continue
        for module in imports(path):
            target = module.split(".")[1]
            if target in LEAVES:
                continue
            allowed = ALLOWED[layer] | ({"adapters"} if relative == WIRING else set())
            if target not in allowed and (relative, module) not in KNOWN:
                wrong.append(f"{relative} imports {module}")
    assert wrong == []
