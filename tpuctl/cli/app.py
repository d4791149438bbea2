"""The `tpuctl` command: global options, command registration and the error boundary.

Only typer (and click) are imported at start-up; every command imports what it needs inside
its body, so `tpuctl --help` stays fast and never loads google-cloud-*.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer

from tpuctl import __version__
from tpuctl.cli import config_cmd, emulator_cmd, ledger_cmds, nodes, pot_cmd, prices_cmd, queue, reap_cmd, report_cmd
from tpuctl.cli import jobs as jobs_cmd
from tpuctl.cli import claim_cmd
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

app = typer.Typer(
    name="tpuctl",
    help="Create, queue and tear down Cloud TPUs for a study group, and keep its budget.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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


nodes.register(app)
ledger_cmds.register(app)
pot_cmd.register(ledger_cmds.ledger_app)
app.add_typer(queue.app, name="queue")
app.add_typer(prices_cmd.app, name="prices")
app.add_typer(config_cmd.app, name="config")
app.add_typer(emulator_cmd.app, name="emulator")
app.add_typer(report_cmd.app, name="report")
jobs_cmd.register(app)
reap_cmd.register(app)
claim_cmd.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; expected errors become one sentence and a documented exit code."""
    args = sys.argv[1:] if argv is None else argv
    as_json = "--json" in args
    debug = "--debug" in args or os.environ.get("TPUCTL_DEBUG", "") not in ("", "0", "false")
    try:
        code = app(args=args, prog_name="tpuctl", standalone_mode=False)
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
        if debug:
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
