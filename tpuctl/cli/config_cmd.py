"""`tpuctl config init|show|path`: where settings come from."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tpuctl.cli.options import JsonFlag, session

app = typer.Typer(no_args_is_help=True, help="Create and inspect the config file and profiles.")


@app.command("show")
def show(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Print the effective profile and where each value came from."""
    from tpuctl.cli import render
    from tpuctl.config import SETTINGS, config_path, profile_as_dict

    s = session(ctx)
    profile = s.profile
    values = profile_as_dict(profile)
    if json_out:
        render.emit_json({"profile": profile.name, "config_file": str(config_path(s.config_flag)),
                          "values": values, "sources": profile.sources})
        return
    render.echo(f"Profile {profile.name} (config file {config_path(s.config_flag)})")
    render.table(["KEY", "VALUE", "FROM"], [[k, values[k], profile.sources.get(k, "")] for k in ("name", *SETTINGS) if k != "name"])


@app.command("init")
def init(
    ctx: typer.Context,
    project: Annotated[str, typer.Option("--project", help="The group's Google Cloud project id.")] = "my-group-project",
    zone: Annotated[str, typer.Option("--zone", help="Default zone.")] = "us-central2-b",
    store: Annotated[str, typer.Option("--store", help="Group store: gs://BUCKET/PREFIX or a folder.")] = "gs://my-group-bucket/tpuctl",
    member: Annotated[Optional[str], typer.Option("--member", help="Your member name.")] = None,
    default: Annotated[str, typer.Option("--default", help="Default profile: 'local' or 'group'.")] = "local",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented config file with a 'group' profile to edit."""
    from tpuctl.cli import render
    from tpuctl.config import config_path, default_member, render_template
    from tpuctl.errors import ConflictError

    path = config_path(session(ctx).config_flag)
    if path.exists() and not force:
        raise ConflictError(f"{path} already exists.", hint="Edit it, or pass --force to replace it.")
    text = render_template(project, zone, store, member or default_member(), default)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    render.echo(f"Wrote {path}.")


@app.command("path")
def path(ctx: typer.Context) -> None:
    """Print the config file's path."""
    from tpuctl.cli import render
    from tpuctl.config import config_path

    render.echo(str(config_path(session(ctx).config_flag)))
