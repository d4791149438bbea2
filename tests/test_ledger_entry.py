"""The ledger has one entry point: a use case, the CLI or a test reaches it through `Books`,
never through helpers beside it (tpuctl/services/ledger.py). Checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import tpuctl.services.ledger as ledger

ROOT = Path(__file__).resolve().parents[1]
OFFERED = {"Books", "Lister", "MonthReport", "MemberSpend", "NodeSpend", "Problem"}   # Books and what it returns


def test_the_ledger_module_offers_books_and_what_it_returns():
    public = {name for name, value in vars(ledger).items()
              if not name.startswith("_") and getattr(value, "__module__", None) == ledger.__name__}
    assert public == OFFERED


def test_nothing_takes_anything_else_from_the_ledger_module():
    taken = []
    for folder in ("tpuctl", "tests", "benchmarks", "examples"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ImportFrom):
                    continue
                names = {alias.name for alias in node.names}
                where = path.relative_to(ROOT).as_posix()
                if node.module == "tpuctl.services.ledger":
                    taken += [f"{where}: {name}" for name in sorted(names - OFFERED)]
                elif node.module == "tpuctl.services" and "ledger" in names:
                    taken.append(f"{where}: the module itself")
    assert taken == []
