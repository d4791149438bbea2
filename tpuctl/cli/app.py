"""The `tpuctl` command: global options, command registration and the error boundary.

Only typer (and click) are imported at start-up; every command imports what it needs inside
its body, so `tpuctl --help` stays fast and never loads google-cloud-*.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from typing import Annotated, Optional

import typer

from tpuctl import __version__
from tpuctl.cli import (
    agent_cmd, claim_cmd, config_cmd, configs_cmd, emulator_cmd, grant_cmd, ledger_cmds, nodes, pot_cmd, prices_cmd,
    queue, reap_cmd, report_cmd,
)
from tpuctl.cli import jobs as jobs_cmd
from tpuctl.cli.session import Session
from tpuctl.errors import Aborted, ExitCode, TpuctlError

def _cli_error_types() -> tuple[type[Exception], ...]:
    """Click's usage errors: typer >= 0.2x vendors click, older typer uses click itself."""
    found: list[type[Exception]] = []
    try:
        from typer.exceptions import TyperException

        found.append(TyperException)
    except ImportError:  # pragma: no cover - older typer
        pass
    try:
        import click

        found.append(click.ClickException)
    except ImportError:
        pass
    return tuple(found)


_CLI_ERRORS = _cli_error_types()

_SETTINGS = dict(
    name="tpuctl",
    help="Create, queue and tear down Cloud TPUs for a study group, and keep its budget.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app = typer.Typer(**_SETTINGS)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tpuctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[Optional[str], typer.Option("--config", envvar="TPUCTL_CONFIG", help="Config file (default: the platform config dir).")] = None,
    profile: Annotated[Optional[str], typer.Option("--profile", "-p", envvar="TPUCTL_PROFILE", help="Profile to use (default: the file's default_profile, else 'local').")] = None,
    debug: Annotated[bool, typer.Option("--debug", envvar="TPUCTL_DEBUG", help="Show tracebacks for errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    ctx.obj = Session(config, profile, debug)
    ctx.call_on_close(ctx.obj.end)


# Every command and group, registered here and only here, in the order `tpuctl --help` lists them.
# An entry is (name, command function) or (name, group, its entries).
COMMANDS = [
    ("create", nodes.create), ("list", nodes.list_), ("describe", nodes.describe), ("delete", nodes.delete),
    ("stop", nodes.stop), ("start", nodes.start), ("types", nodes.types), ("versions", nodes.versions),
    ("zones", nodes.zones), ("claim", claim_cmd.claim),
    ("doctor", ledger_cmds.doctor), ("sync", ledger_cmds.sync), ("spend", ledger_cmds.spend),
    ("whoami", ledger_cmds.whoami),
    ("group", ledger_cmds.group_app, [
        ("init", ledger_cmds.group_init), ("add", ledger_cmds.group_add), ("rekey", ledger_cmds.group_rekey),
        ("remove", ledger_cmds.group_remove), ("show", ledger_cmds.group_show),
        ("seal", ledger_cmds.group_seal)]),
    ("budget", ledger_cmds.budget_app, [("show", ledger_cmds.budget_show), ("set", ledger_cmds.budget_set)]),
    ("ledger", ledger_cmds.ledger_app, [
        ("verify", ledger_cmds.ledger_verify), ("rebuild", ledger_cmds.ledger_rebuild),
        ("compact", ledger_cmds.ledger_compact), ("contribute", pot_cmd.contribute), ("balance", pot_cmd.balance),
        ("rule", pot_cmd.rule), ("export", pot_cmd.export)]),
    ("queue", queue.app, [("create", queue.create), ("list", queue.list_), ("describe", queue.describe),
                          ("delete", queue.delete)]),
    ("prices", prices_cmd.app, [
        ("show", prices_cmd.show), ("set", prices_cmd.set_prices), ("unset", prices_cmd.unset_prices),
        ("free", prices_cmd.free_app, [("add", prices_cmd.free_add), ("remove", prices_cmd.free_remove)])]),
    ("config", config_cmd.app, [("show", config_cmd.show), ("init", config_cmd.init), ("path", config_cmd.path)]),
    ("emulator", emulator_cmd.app, [
        ("preempt", emulator_cmd.preempt), ("maintenance", emulator_cmd.maintenance), ("serve", emulator_cmd.serve),
        ("billing-export", emulator_cmd.billing_export),
        ("capacity", emulator_cmd.capacity_app, [("set", emulator_cmd.capacity_set)]),
        ("clock", emulator_cmd.clock_app, [("advance", emulator_cmd.clock_advance)])]),
    ("grant", grant_cmd.app, [("add", grant_cmd.add), ("end", grant_cmd.end), ("show", grant_cmd.show)]),
    ("report", report_cmd.app, [("show", report_cmd.report), ("reconcile", report_cmd.reconcile),
                                ("reopen", report_cmd.reopen)]),
    ("run", jobs_cmd.run), ("logs", jobs_cmd.logs), ("cancel", jobs_cmd.cancel), ("outputs", jobs_cmd.outputs),
    ("agent", agent_cmd.agent), ("touch", agent_cmd.touch),
    ("jobs", jobs_cmd.jobs_app, [("list", jobs_cmd.jobs), ("show", jobs_cmd.job), ("resume", jobs_cmd.resume)]),
    ("configs", configs_cmd.configs_app, [
        ("push", configs_cmd.configs_push), ("list", configs_cmd.configs_list), ("show", configs_cmd.configs_show),
        ("pull", configs_cmd.configs_pull)]),
    ("reap", reap_cmd.reap), ("extend", reap_cmd.extend), ("keep", reap_cmd.keep),
]
# Old spellings that scripts and cron lines use: they work, and help does not list them.
ALIASES = [("job", jobs_cmd.job)]      # `tpuctl jobs show JOB`


def register(group: typer.Typer, entries: list, hidden: bool = False) -> None:
    for name, target, *sub in entries:
        if sub:
            register(target, sub[0])
            group.add_typer(target, name=name)
        else:
            group.command(name, hidden=hidden)(target)


register(app, COMMANDS)
register(app, ALIASES, hidden=True)


_VALUED = ("--config", "--profile", "-p")       # the global options that take a value


def _command_named(args: list[str]) -> str | None:
    """The top-level command `args` run ("": only --version; None: help, completion, or a name
    tpuctl lacks)."""
    if os.environ.get("_TPUCTL_COMPLETE"):
        return None
    for index, arg in enumerate(args):
        if not arg.startswith("-") and (index == 0 or args[index - 1] not in _VALUED):
            return arg if any(arg == entry[0] for entry in COMMANDS + ALIASES) else None
    return "" if "--version" in args else None


@lru_cache(maxsize=None)
def _command(name: str | None = None):
    """The click command tree, built once per process and only as far as it is used: Typer reads
    every command's signature to build it (35 ms for all of them), so a command runs with a tree
    of the global options and itself alone; help, completion and typos get the whole tree."""
    if name is None:
        return typer.main.get_command(app)
    alone = typer.Typer(**_SETTINGS)
    alone.callback()(root)
    for entry_name, target, *sub in COMMANDS + ALIASES:
        if entry_name == name and sub:
            alone.add_typer(target, name=name)
        elif entry_name == name:
            alone.command(name)(target)
    return typer.main.get_command(alone)


def main(argv: list[str] | None = None, *, raise_internal: bool = False) -> int:
    """Run the CLI; expected errors become one sentence and a documented exit code.

    An unexpected exception is a bug: one sentence and exit 1 for a user, but raised with its
    traceback under `--debug` or `raise_internal` (the tests run every command that way).
    """
    args = sys.argv[1:] if argv is None else argv
    as_json = "--json" in args
    debug = "--debug" in args or os.environ.get("TPUCTL_DEBUG", "") not in ("", "0", "false")
    try:
        code = _command(_command_named(args)).main(args=args, prog_name="tpuctl", standalone_mode=False)
    except TpuctlError as exc:
        from tpuctl.cli.render import error

        error(exc, as_json=as_json)
        if debug:
            raise
        code = exc.exit_code
    except typer.Abort:
        from tpuctl.cli.render import error

        error(Aborted("Aborted: nothing was changed."), as_json=as_json)
        code = ExitCode.ABORTED
    except _CLI_ERRORS as exc:
        exc.show()
        code = exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        code = 130
    except Exception as exc:
        if debug or raise_internal:
            raise
        sys.stderr.write(
            f"Error: tpuctl hit an internal error ({type(exc).__name__}: {exc}).\n"
            "Hint: run again with --debug for the traceback, and report it.\n"
        )
        code = ExitCode.INTERNAL
    code = code if isinstance(code, int) else 0
    if argv is None:
        sys.exit(code)
    return code
