"""Shell completion of values: node names, queued requests, accelerator types, zones, job ids.

Typer calls these only when the shell asks (Tab), so they may reach the profile's API or store;
everything heavy is imported inside them, never when `tpuctl --help` loads this module. A
completion that cannot look (no credentials, API away) offers nothing rather than an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import typer


def _session(ctx: typer.Context):
    from tpuctl.cli.options import session

    return session(ctx)


def _zone(ctx: typer.Context) -> str:
    return ctx.params.get("zone") or _session(ctx).profile.zone


def _offer(find: Callable[[typer.Context], Iterable[str]]) -> Callable[[typer.Context, str], list[str]]:
    def complete(ctx: typer.Context, incomplete: str) -> list[str]:
        try:
            return sorted(name for name in set(find(ctx)) if name.startswith(incomplete))
        except Exception:         # completion never breaks the shell
            return []

    complete.__name__ = find.__name__
    return complete


@_offer
def node_names(ctx: typer.Context) -> Iterable[str]:
    return [node.name for node in _session(ctx).api.list_nodes(_zone(ctx))]


@_offer
def queued_names(ctx: typer.Context) -> Iterable[str]:
    return [queued.name for queued in _session(ctx).api.list_queued_resources(_zone(ctx))]


@_offer
def accelerator_types(ctx: typer.Context) -> Iterable[str]:
    return _session(ctx).api.list_accelerator_types(_zone(ctx))


@_offer
def zones(ctx: typer.Context) -> Iterable[str]:
    return _session(ctx).api.list_zones()


@_offer
def job_ids(ctx: typer.Context) -> Iterable[str]:
    from tpuctl.domain.jobs import INDEX_PREFIX, index_job

    return [index_job(key) for key in _session(ctx).store.list(INDEX_PREFIX)]
