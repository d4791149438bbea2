"""Commands are registered one way, in one place, and no name is both a group and a command:
`tpuctl jobs` lists (it is `jobs list`), `jobs show JOB` shows one, and the old `tpuctl job JOB`
still works for scripts without being listed; `tpuctl report` is `report show`."""

from __future__ import annotations

import ast
import contextlib
import io
from pathlib import Path

import pytest
import typer

CLI = Path(__file__).resolve().parents[2] / "tpuctl" / "cli"


def test_help_lists_jobs_once_and_keeps_job_for_scripts(cli, remote_env):
    listed = cli("--help").out
    assert "  jobs " in listed and "  job " not in listed
    assert cli("jobs", "--help").out.count("  show ") == 1
    shown, old = cli("jobs", "show", "digits-k3x9q2"), cli("job", "digits-k3x9q2")
    assert shown.code == old.code != 0
    assert shown.err == old.err and "digits-k3x9q2" in shown.err


def test_a_group_alone_runs_its_default_command(cli, remote_env, tmp_path):
    assert cli("jobs", "list", "--mine", "--json").json == cli("jobs", "--mine", "--json").json == []
    assert cli("jobs", "list").out == cli("jobs").out == "No jobs yet: `tpuctl run CONFIG` starts one.\n"
    assert cli("report", "show", "--by", "zone", "--format", "json").out.startswith("{")
    assert cli("report", "--by", "zone", "--format", "json").out.startswith("{")


def test_no_group_is_also_a_command():
    from tpuctl.cli.app import app

    def groups(group: typer.Typer):
        for sub in group.registered_groups:
            yield sub.name, sub.typer_instance
            yield from groups(sub.typer_instance)

    both = [name for name, group in groups(app)
            if group.registered_callback is not None or group.info.invoke_without_command]
    assert both == []


def test_commands_are_registered_only_in_app_py():
    elsewhere = []
    for path in sorted(CLI.glob("*.py")):
        if path.name == "app.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("command", "add_typer", "callback"):
                elsewhere.append(f"{path.name}:{node.lineno}")
    assert elsewhere == []


def test_commands_read_the_ledger_only_through_services():
    """The SQLite view is the services' business: no command module reads it (the session
    module only opens it)."""
    reads = []
    for path in sorted(CLI.glob("*.py")):
        if path.name == "session.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("db", "rules", "open_nodes", "place_history"):
                reads.append(f"{path.name}:{node.lineno} .{node.attr}")
            if isinstance(node, (ast.Import, ast.ImportFrom)) and "sqlite3" in ast.unparse(node):
                reads.append(f"{path.name}:{node.lineno} sqlite3")
    assert reads == []


def _every_command_path(group, path=()):
    """Each command's words, e.g. ("ledger", "verify"), walking the whole click tree."""
    for name, command in getattr(group, "commands", {}).items():
        yield (*path, name)
        yield from _every_command_path(command, (*path, name))


def test_a_command_run_with_its_own_tree_reads_and_helps_as_in_the_whole_tree(cli):
    """A command runs with a tree of itself alone (for start-up time): its help, and the global
    options before it, are as they are in the whole tree."""
    import typer.main

    from tpuctl.cli.app import _command, _command_named, app

    whole = typer.main.get_command(app)
    paths = list(_every_command_path(whole)) + [("job",)]
    assert len(paths) > 60
    for words in paths:
        alone, shown = cli(*words, "--help").out, io.StringIO()
        with contextlib.redirect_stdout(shown), pytest.raises(SystemExit):     # as `tpuctl --help` builds it
            _command(None).main(args=[*words, "--help"], prog_name="tpuctl")
        assert alone == shown.getvalue() != "", words
    assert _command_named(["--profile", "list", "spend"]) == "spend"
    assert _command_named(["-p", "x", "--debug", "ledger", "verify"]) == "ledger"
    assert _command_named(["--config=x.toml", "list"]) == "list"
    assert _command_named(["lst"]) is None and _command_named(["--help"]) is None
    assert cli("--profile", "list", "list").err.startswith("Error: ")      # the profile named list is unknown
