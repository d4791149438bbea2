"""The README and the code say the same thing (sqlite-utils' tests/test_docs.py, for tpuctl):
every command is in the README, and every exit code and `--json` shape the README documents
is produced by some test. Checked on the sources, so it holds in any subset of the suite.
"""

from __future__ import annotations

import ast
import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

from tpuctl.errors import ExitCode

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TESTS = ROOT / "tests"
GOLDEN = TESTS / "cli" / "golden" / "json_shapes.json"     # the shapes test_json_golden.py produces
JSON_FLAGS = ("--json", "--format json")
# Fields the README documents (and the code emits) that no test reads yet. This list may only shrink.
UNREAD = {
    "job": {"asked", "asked_by", "event_id", "released_by"},
    "jobs": {"asked", "asked_by", "event_id", "released", "released_by", "via"},
    "run": {"asked", "asked_by"},
    "ledger balance": {"charged", "contributed", "month", "months", "rule"},
    "ledger verify": {"event_id"},
    "report": {"as_of", "closed_at", "closed_by", "invoice_month", "settlement_rule", "source", "top_jobs"},
    "report reconcile": {"invoice_month", "month", "rows", "source"},
}


def readme_section(title: str) -> str:
    parts = re.split(r"^## +(.+)$", README.read_text(encoding="utf-8"), flags=re.M)
    found = {name.strip(): body for name, body in zip(parts[1::2], parts[2::2])}
    assert title in found, f"README has no section '## {title}'"
    return found[title]


@lru_cache(maxsize=None)
def commands() -> tuple[str, ...]:
    """Every command and command group of the app, as typed after `tpuctl`."""
    import typer.main

    from tpuctl.cli.app import app

    def walk(command, path: tuple[str, ...]):
        if path:
            yield " ".join(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            if not getattr(sub, "hidden", False):
                yield from walk(sub, (*path, name))

    return tuple(walk(typer.main.get_command(app), ()))


@lru_cache(maxsize=None)
def sources() -> tuple[tuple[Path, ast.Module], ...]:
    return tuple((path, ast.parse(path.read_text(encoding="utf-8"))) for path in sorted(TESTS.rglob("*.py"))
                 if path.name != Path(__file__).name)


# --- every command is in the README --------------------------------------------------------

def mentioned(command: str, text: str) -> bool:
    """`tpuctl budget set`, `` `budget set` `` or `` `queue create|describe` `` name `budget set`
    and `queue describe`; line breaks inside do not matter."""
    *parents, last = command.split()
    prefix = "".join(f"{re.escape(word)} " for word in parents)
    pattern = rf"(?:tpuctl |`){prefix}(?:[\w-]+\|)*{re.escape(last)}(?![\w-])"
    return re.search(pattern, " ".join(text.split())) is not None


@pytest.mark.parametrize("command", commands())
def test_every_command_is_in_the_readme(command):
    assert mentioned(command, README.read_text(encoding="utf-8")), f"`tpuctl {command}` is not in README.md"


# --- every exit code in the README's table is asserted by a test -------------------------------

@lru_cache(maxsize=None)
def readme_exit_codes() -> dict[int, str]:
    rows = re.findall(r"^\| *([0-9]+) *\| *(.+?) *\|$", readme_section("Exit codes"), flags=re.M)
    return {int(code): meaning for code, meaning in rows}


@lru_cache(maxsize=None)
def asserted_exit_codes() -> set[int]:
    """Codes the tests expect of tpuctl: any `ExitCode.NAME` they use, and a number compared with
    `.code`, `.exit_code` or `["exit_code"]` in a function that runs the CLI (takes `cli`), so
    neither gcloud's exit status nor an API status code counts."""
    def is_code(node: ast.AST) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr in ("code", "exit_code")) or (
            isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and node.slice.value == "exit_code")

    found: set[int] = set()
    for _, module in sources():
        for node in ast.walk(module):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ExitCode":
                found.add(getattr(ExitCode, node.attr))
        runs_cli = [f for f in ast.walk(module) if isinstance(f, ast.FunctionDef) and "cli" in {a.arg for a in f.args.args}]
        for function in runs_cli:
            for node in ast.walk(function):
                if isinstance(node, ast.Compare) and any(map(is_code, [node.left, *node.comparators])):
                    for side in [node.left, *node.comparators]:
                        values = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
                        found.update(v.value for v in values if isinstance(v, ast.Constant) and type(v.value) is int)
    return found


def test_the_exit_code_table_is_the_codes_tpuctl_has():
    names = {value for name, value in vars(ExitCode).items() if name.isupper()}
    assert sorted(readme_exit_codes()) == sorted(names)


@pytest.mark.parametrize("code", sorted(readme_exit_codes()))
def test_every_exit_code_in_the_readme_is_asserted_by_a_test(code):
    assert code in asserted_exit_codes(), f"no test expects exit code {code} ({readme_exit_codes()[code]})"


# --- every --json shape in the README is produced by a test ---------------------------------

def clauses(text: str) -> list[str]:
    """A bullet cut at `. ` and `; ` outside parentheses and braces."""
    parts, depth, begin = [], 0, 0
    for i, char in enumerate(text):
        depth += char in "({" and 1 or char in ")}" and -1 or 0
        if depth == 0 and char in ".;" and text[i + 1:i + 2] in (" ", "\n"):
            parts.append(text[begin:i])
            begin = i + 1
    return [*parts, text[begin:]]


def header(clause: str) -> tuple[str, str] | None:
    """`subject: the rest` split at the first colon outside parentheses, or None."""
    depth = 0
    for i, char in enumerate(clause):
        depth += char in "({" and 1 or char in ")}" and -1 or 0
        if depth == 0 and char == ":" and clause[i + 1:i + 2] in (" ", "\n", ""):
            return clause[:i], clause[i + 1:]
    return None


@lru_cache(maxsize=None)
def readme_json_shapes() -> dict[str, set[str]]:
    """`command [flags]` -> the field names the README lists for it, from the bullets of "JSON
    output": a clause `subject: fields` names commands in its subject (`--json` left out: every
    command there takes it); a clause without a colon goes on listing the previous subject's."""
    shapes: dict[str, set[str]] = {}
    nouns: dict[str, list[str]] = {}          # "job (`run`, ...)" -> later "job: also ..." adds to them
    for bullet in re.split(r"^- ", readme_section("JSON output"), flags=re.M)[1:]:
        subjects: list[str] = []
        for clause in clauses(bullet):
            split = header(clause)
            if split:
                subject, rest = split
                subjects = [name for span in re.findall(r"`([^`]+)`", subject) for name in as_command(span)]
                noun = re.sub(r"`[^`]*`|\(.*", "", subject, flags=re.S).strip()
                subjects = subjects or nouns.get(noun, [])
                if subjects and noun:
                    nouns.setdefault(noun, subjects)
                fields = [span for span in re.findall(r"`([^`]+)`", subject) if not as_command(span)]
            else:
                rest, fields = clause, []
            fields += re.findall(r"`([^`]+)`", rest)
            for name in subjects:
                shapes.setdefault(name, set()).update(f for f in fields if re.fullmatch(r"[a-z][a-z_]*", f))
    return shapes


def as_command(span: str) -> list[str]:
    """`queue create|describe` -> ["queue create", "queue describe"]; `delete --dry-run` ->
    ["delete --dry-run"]; a field name or a value -> []."""
    words = span.removeprefix("tpuctl ").replace("--format json", "--json").split()
    flags = [word for word in words if word.startswith("--") and word != "--json"]
    words = [word for word in words if not word.startswith("--")]
    if not words:
        return []
    *parents, last = words
    found = [" ".join([*parents, choice]) for choice in last.split("|")]
    if not all(name in commands() for name in found):
        return []
    return [" ".join([name, *flags]) for name in found]


@lru_cache(maxsize=None)
def produced_json() -> dict[str, set[Path]]:
    """`command [flags]` -> the test modules that run it with `--json` (or `--format json`),
    from the string arguments of every call in the tests; plus what the golden shapes hold."""
    produced: dict[str, set[Path]] = {}
    known = sorted(commands(), key=len, reverse=True)
    for path, module in sources():
        for node in ast.walk(module):
            if not isinstance(node, ast.Call):
                continue
            args = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            line = " ".join(args)
            if not any(flag in line for flag in JSON_FLAGS):
                continue
            for start in range(min(2, len(args))):          # cli("create", ...) or take("what", "create", ...)
                words = " ".join(args[start:])
                name = next((c for c in known if words == c or words.startswith(c + " ")), None)
                if name:
                    flags = {a for a in args if a.startswith("--") and a != "--json" and a != "--format"}
                    for shape in [name, *(f"{name} {flag}" for flag in flags)]:
                        produced.setdefault(shape, set()).add(path)
                    break
    for what in json.loads(GOLDEN.read_text(encoding="utf-8")):
        produced.setdefault(what, set()).add(GOLDEN)
    return produced


@lru_cache(maxsize=None)
def strings_in(path: Path) -> frozenset[str]:
    modules = dict(sources())
    return frozenset(node.value for node in ast.walk(modules[path]) if isinstance(node, ast.Constant)
                     and isinstance(node.value, str)) if path in modules else frozenset()


def keys_in(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in keys_in(item)}
    if isinstance(value, list):
        return {key for item in value for key in keys_in(item)}
    return set()


@pytest.mark.parametrize("shape", sorted(readme_json_shapes()))
def test_every_json_shape_in_the_readme_is_produced_by_a_test(shape):
    produced = produced_json()
    assert shape in produced, f"no test runs `tpuctl {shape}` with --json"
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    seen = keys_in(golden.get(shape, {}))
    strings = {text for path in produced[shape] for text in strings_in(path)}
    unseen = sorted(field for field in readme_json_shapes()[shape] if field not in seen | strings)
    assert unseen == sorted(UNREAD.get(shape, ())), f"`tpuctl {shape} --json`: the README's fields {unseen} " \
        "are read by no test (a field now read: take it out of UNREAD)"
