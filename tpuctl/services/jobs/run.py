"""`tpuctl run` as one call: load the config, submit the job, and say what its TPU costs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

from tpuctl.domain.budgets import Admission
from tpuctl.domain.jobs import JobStatus
from tpuctl.services.context import Context
from tpuctl.services.jobs.configs import load_config
from tpuctl.services.jobs.submit import submit
from tpuctl.services.watch import Quiet, Watch


@dataclass(frozen=True)
class RunAsk:
    """What the member asked `run` for, as typed, and where they asked it."""

    config: str
    node: str | None = None
    keep_node: bool = False
    override: str | None = None
    cwd: Path = field(default_factory=Path.cwd)
    environ: dict[str, str] = field(default_factory=dict)
    for_member: str | None = None      # a treasurer runs it for this member, who owns and pays for its TPU
    force: bool = False                # run on a TPU another member owns


@dataclass(frozen=True)
class Started:
    """A submitted job; its TPU's admission and hourly price (none on an existing TPU); and
    whether no agent can run it where it was sent (a served emulator starts none)."""

    status: JobStatus
    costs: tuple[tuple[Admission, Decimal], ...] = ()
    agentless: str | None = None     # the endpoint that runs no agents
    tpu_type: str | None = None


def run(ctx: Context, ask: RunAsk, watch: Watch = Quiet()) -> Started:
    from tpuctl.services.agents import timing_from_env

    store, books = ctx.store, ctx.books
    loaded = load_config(ask.config, ctx.profile, store, ask.cwd)
    config = replace(loaded.config, keep_node=True) if ask.keep_node else loaded.config
    admitted: list[Admission] = []

    def told(admission: Admission) -> None:
        admitted.append(admission)
        watch.admitted(admission)           # the grant's part and any override, before anything is made

    with watch.waiting(f"Starting job {config.name}") as update:
        status = submit(books, ctx.api, ctx.profile, config, loaded.base, loaded.label, node=ask.node,
                        timing=timing_from_env(), override_reason=ask.override, on_admitted=told,
                        on_progress=update, code=loaded.code, environ=ask.environ, for_member=ask.for_member,
                        force=ask.force)
    tpu = config.tpu
    costs = tuple((a, books.price_per_hour(tpu.zone, tpu.type, tpu.spot)) for a in admitted)
    endpoint = ctx.profile.api_endpoint
    agentless = endpoint if endpoint.startswith("http://") and ctx.emulator_runs_agents() is False else None
    return Started(status, costs, agentless, tpu.type if tpu else None)
