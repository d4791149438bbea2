"""How often agents and followers act: short in tests, a few seconds on a TPU VM."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import timedelta

from tpuctl.errors import ConfigError


@dataclass(frozen=True)
class JobTiming:
    """Seconds between an agent's (and a follower's) periodic acts; short in tests."""

    poll: float = 2.0         # agent: look for new jobs, notice a cancel
    heartbeat: float = 10.0   # agent: write heartbeats
    flush: float = 1.0        # agent: upload a log chunk
    sync: float = 60.0        # agent: upload outputs while a job runs
    grace: float = 10.0       # agent: SIGTERM to SIGKILL of a stopped job
    follow: float = 1.0       # member: poll while following a job
    start: float = 900.0      # member: how long a READY TPU's agents may take to report (boot, installs)

    @classmethod
    def parse(cls, text: str | None, what: str = "TPUCTL_JOB_TIMING") -> JobTiming:
        """`poll=0.2,heartbeat=0.5` (unnamed values keep their default)."""
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in (text or "").split(","))):
            key, _, raw = part.partition("=")
            try:
                number = float(raw)
            except ValueError:
                number = -1.0
            if key not in {f.name for f in fields(cls)} or not 0 < number <= 86400:     # never nan or inf
                raise ConfigError(f"{what} has '{part}'; write NAME=SECONDS with NAME one of "
                                  f"{', '.join(f.name for f in fields(cls))}.")
            values[key] = number
        return cls(**values)

    def format(self) -> str:
        return ",".join(f"{f.name}={getattr(self, f.name):g}" for f in fields(self))


def stale_after(interval: float) -> timedelta:
    """A heartbeat older than this means its writer is gone."""
    return timedelta(seconds=3 * interval + 2)

