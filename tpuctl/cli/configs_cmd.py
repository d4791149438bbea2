"""`tpuctl configs push|list|show|pull`: the group's stored job configs, each with its code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from tpuctl.cli import shapes
from tpuctl.cli.options import JsonFlag, session

VersionOption = Annotated[Optional[int], typer.Option("--version", "-v", min=1, help="A version (default: the newest).")]

configs_app = typer.Typer(no_args_is_help=True, help="The group's stored job configs, with versions and their code.")


def _seen(s):
    """This machine's record of the versions this member pulled or pushed (per profile)."""
    from tpuctl.config import data_dir
    from tpuctl.services import jobs as svc

    return svc.SeenVersions(data_dir() / "configs-seen" / f"{s.profile.name}.json", s.store.url)


def configs_push(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The job config file (its workdir is stored with it).")],
    name: Annotated[Optional[str], typer.Option("--name", help="Store it under this name (default: its `name`).")] = None,
    from_version: Annotated[Optional[int], typer.Option("--from-version", min=0, help="The version your file started from (default: its `# tpuctl-config:` line).")] = None,
) -> None:
    """Store a checked config and its workdir's code as a new version (refused if it would
    replace a version you never pulled; nothing new if it is unchanged)."""
    from tpuctl.cli import render
    from tpuctl.services import jobs as svc

    s = session(ctx)
    stored = svc.push_config(s.store, s.profile, s.clock, file, name, from_version, seen=_seen(s))
    if not stored.new:
        render.echo(f"{stored.name}@v{stored.version} already holds this config and its code: no new version.")
        return
    note = ""
    try:
        file.write_text(stored.text, encoding="utf-8")   # the file now says it starts from this version
    except OSError:
        note = f" ({file} could not be updated: pull before your next push)"
    render.echo(f"Pushed {stored.name}@v{stored.version}{note}.")


def configs_list(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """The group's stored configs, each at its newest version."""
    from tpuctl.cli import render
    from tpuctl.domain.jobs import pushed_by
    from tpuctl.services import jobs as svc

    found = [(c, *pushed_by(c.text)) for c in svc.list_configs(session(ctx).store)]
    if json_out:
        render.emit_json(shapes.stored_configs(found))
        return
    render.table(["NAME", "VERSION", "PUSHED BY", "PUSHED AT"], [[c.name, f"v{c.version}", who, when] for c, who, when in found],
                 empty="No stored configs yet: `tpuctl configs push FILE` stores one.")


def configs_show(ctx: typer.Context, name: Annotated[str, typer.Argument()], version: VersionOption = None,
                 json_out: JsonFlag = False) -> None:
    """Print a stored config (its first lines name its version and code), then its code's files (to stderr)."""
    from tpuctl.cli import render
    from tpuctl.domain.jobs import shown_size
    from tpuctl.services import jobs as svc

    s = session(ctx)
    stored = svc.read_config(s.store, name, version)
    code = svc.config_code(s.store, stored)
    text = svc.shown_text(stored, s.profile)             # secrets masked; `configs pull` writes them as stored
    if json_out:
        render.emit_json(shapes.stored_config(stored, text, code))
        return
    sys.stdout.write(text)
    if code is None:
        render.echo(f"{name}@v{stored.version} was pushed without its code: `run {name}` ships the current folder.", err=True)
        return
    render.echo(f"Its code, sha256:{code.digest}, {len(code.files)} file{'s' if len(code.files) != 1 else ''}:", err=True)
    for path, size in code.files:
        render.echo(f"  {path}  {shown_size(size)}", err=True)


def configs_pull(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    version: VersionOption = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="File to write (default ./NAME.yaml).")] = None,
    code: Annotated[Optional[Path], typer.Option("--code", help="Also unpack its code into this new or empty folder.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a different file of that name.")] = False,
) -> None:
    """Write a stored config to a file to edit (`configs push` then knows which version you started from)."""
    from tpuctl.cli import render
    from tpuctl.errors import UsageError
    from tpuctl.services import jobs as svc

    s = session(ctx)
    stored = svc.read_config(s.store, name, version)
    path = output or Path(f"{name}.yaml")
    if path.exists() and not force and path.read_text(encoding="utf-8", errors="replace") != stored.text:
        raise UsageError(f"{path} exists and differs from {name}@v{stored.version}.",
                         hint="Pass --force to overwrite it, or -o another file.")
    if code is not None:
        files = svc.unpack_code(s.store, stored, code)
        render.echo(f"Unpacked {files} file{'s' if files != 1 else ''} of {name}@v{stored.version}'s code to {code}.")
    path.write_text(stored.text, encoding="utf-8")
    svc.pull_config(s.store, name, stored.version, seen=_seen(s))
    render.echo(f"Wrote {name}@v{stored.version} to {path}.")
