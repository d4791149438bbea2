"""Where a job lives in the group store: create-only objects (spec, attempts, per-worker
start/exit, log chunks), overwritable heartbeats, a node's queue, bundles. No I/O here."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from tpuctl.errors import UsageError


def iso(when: datetime | None) -> str | None:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if when else None


def parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def stamp(when: datetime) -> str:
    """A sortable, store-safe time: 20261105T141233123Z."""
    when = when.astimezone(timezone.utc)
    return when.strftime("%Y%m%dT%H%M%S") + f"{when.microsecond // 1000:03d}Z"


JOB_ID_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?-[a-z0-9]{6}$")


def job_id(name: str, token: str) -> str:
    return f"{name}-{token}"


def check_job_id(job: str) -> str:
    if not JOB_ID_RE.match(job):
        raise UsageError(f"'{job}' is not a job id (they look like digits-k3x9q2).", hint="`tpuctl jobs` lists them.")
    return job


def node_for(job: str, attempt: int) -> str:
    """The TPU a job creates for an attempt: the job id, then `-2`, `-3` ... after preemptions."""
    return job if attempt == 1 else f"{job}-{attempt}"


def spec_key(job: str) -> str:
    return f"jobs/{job}/spec.json"


INDEX_PREFIX = "jobs/index/"


def index_key(created: datetime, job: str) -> str:
    return f"{INDEX_PREFIX}{stamp(created)}-{job}"


def index_job(key: str) -> str:
    return key[len(INDEX_PREFIX):].split("-", 1)[1]


def key_number(pattern: str, key: str) -> int | None:
    """The number (the pattern's one group) in a key of that pattern; None for any other key."""
    match = re.fullmatch(pattern, key)
    return int(match.group(1)) if match else None


def attempts_prefix(job: str) -> str:
    return f"jobs/{job}/attempts/"


def attempt_key(job: str, attempt: int) -> str:
    return f"{attempts_prefix(job)}{attempt:04d}.json"


def key_attempt(key: str) -> int | None:
    """The attempt an attempt's key names (None: a key tpuctl did not write)."""
    return key_number(r".*/(\d{1,9})\.json", key)


def cancel_key(job: str) -> str:
    return f"jobs/{job}/cancel.json"


def cancels_prefix(job: str) -> str:
    """Where a cancel goes when cancel.json holds something unreadable (taken by hand to block
    cancels): create-only keys nobody can guess, read only when cancel.json cannot be."""
    return f"jobs/{job}/cancels/"


def problem_key(job: str, attempt: int) -> str:
    return f"jobs/{job}/a{attempt}/problem.json"


WORKER_KINDS = ("start", "beat", "exit")


def worker_prefix(job: str, attempt: int, kind: str) -> str:
    return f"jobs/{job}/a{attempt}/{kind}/"


def worker_key(job: str, attempt: int, kind: str, worker: int) -> str:
    return f"{worker_prefix(job, attempt, kind)}w{worker}.json"


def key_worker(key: str) -> int | None:
    """The worker a per-worker key names (None: a key tpuctl did not write)."""
    return key_number(r".*/w(\d{1,4})\.json", key)


def log_prefix(job: str, attempt: int, worker: int) -> str:
    return f"jobs/{job}/a{attempt}/log/w{worker}/"


def log_key(job: str, attempt: int, worker: int, seq: int) -> str:
    return f"{log_prefix(job, attempt, worker)}{seq:08d}.log"


def outputs_prefix(job: str, worker: int) -> str:
    return f"jobs/{job}/outputs/w{worker}/"


def node_prefix(zone: str, node: str) -> str:
    return f"agents/{zone}/{node}/"


def assignment_key(zone: str, node: str, created: datetime, job: str, attempt: int) -> str:
    """A node's queue: the agents take these in key (= time) order."""
    return f"{node_prefix(zone, node)}jobs/{stamp(created)}-{job}.{attempt}.json"


def agent_beat_key(zone: str, node: str, worker: int) -> str:
    return f"{node_prefix(zone, node)}beat/w{worker}.json"


def touch_prefix(zone: str, node: str) -> str:
    return f"{node_prefix(zone, node)}touch/"


def touch_key(zone: str, node: str, member: str) -> str:
    """`tpuctl touch`: one record per member, overwritten by their next touch."""
    return f"{touch_prefix(zone, node)}{member}.json"


def bundle_key(kind: str, digest: str) -> str:
    return f"bundles/{kind}/{digest}.tar.gz"

