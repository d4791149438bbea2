"""`tpuctl config init|show|path`: where settings come from."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tpuctl.cli import shapes
from tpuctl.cli.options import JsonFlag, session

app = typer.Typer(no_args_is_help=True, help="Create and inspect the config file and profiles.")


def show(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Print the effective profile and where each value came from."""
    from tpuctl.cli import render
    from tpuctl.config import SETTINGS, config_path, profile_as_dict

    s = session(ctx)
    profile = s.profile
    values = profile_as_dict(profile)
    if json_out:
        render.emit_json(shapes.profile(profile, config_path(s.config_flag), values))
        return
    render.echo(f"Profile {profile.name} (config file {config_path(s.config_flag)})")
    render.table(["KEY", "VALUE", "FROM"], [[k, values[k], profile.sources.get(k, "")] for k in ("name", *SETTINGS) if k != "name"])


def init(
    ctx: typer.Context,
    project: Annotated[Optional[str], typer.Option("--project", help="The group's Google Cloud project id (used on Google only when credentials exist).")] = None,
    zone: Annotated[str, typer.Option("--zone", help="Default zone.")] = "us-central2-b",
    store: Annotated[Optional[str], typer.Option("--store", help="Group store: gs://BUCKET/PREFIX or a folder (default on the emulator: a folder in the data dir).")] = None,
    api_endpoint: Annotated[Optional[str], typer.Option("--api-endpoint", help="'' for Google, 'local' for the built-in emulator, http://HOST:PORT for a served one (default: Google if --project is given and credentials exist, else 'local').")] = None,
    member: Annotated[Optional[str], typer.Option("--member", help="Your member name: lowercase letters, digits, '_' or '-'.")] = None,
    default: Annotated[str, typer.Option("--default", help="Default profile afterwards: 'group' (the one written) or 'local'.")] = "group",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented config file with a 'group' profile, and make it the default.

    Without a real project and Google credentials the profile uses the built-in emulator, so
    every command works on a laptop with no cloud account."""
    from tpuctl.cli import render
    from tpuctl.config import config_path, credentials_found, default_member, plan_profile, render_template
    from tpuctl.errors import ConflictError

    path = config_path(session(ctx).config_flag)
    if path.exists() and not force:
        raise ConflictError(f"{path} already exists.", hint="Edit it, or pass --force to replace it.")
    planned = plan_profile(project=project, zone=zone, store=store, api_endpoint=api_endpoint,
                           member=member or default_member(), credentials=project is not None and credentials_found())
    text = render_template(planned.values, default)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    render.echo(render.profile_written(path, planned, default))
    if planned.reason == "no-credentials":
        render.echo(f"No Google Cloud credentials were found on this machine, so profile 'group' uses the built-in "
                    f"emulator. After `gcloud auth application-default login`, run `tpuctl config init --project "
                    f"{project} --store gs://BUCKET/PREFIX --force`.", err=True)


def path(ctx: typer.Context) -> None:
    """Print the config file's path."""
    from tpuctl.cli import render
    from tpuctl.config import config_path

    render.echo(str(config_path(session(ctx).config_flag)))
