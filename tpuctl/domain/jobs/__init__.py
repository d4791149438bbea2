"""Jobs: one module per responsibility; this package names them all, so callers may say
`from tpuctl.domain.jobs import JobConfig` or `from tpuctl.domain import jobs as layout`.

- config: the YAML job config a member writes, and the secrets in its env
- stored: the lines tpuctl adds to a stored (pushed) config, and its keys
- layout: where a job lives in the group store
- timing: how often agents and followers act
- protocol: every object the agents and tpuctl exchange through the store, versioned, and
  the one place they are parsed (fields: the checks of single fields it uses)
- state: a job's state, derived from those objects (pure)
No I/O in any of them. A name is imported from its module when first asked for: every
command reads its config, which needs one pattern from here, and the whole package costs
about 20 ms to import.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_MODULES = {
    "config": ("ENV_KEY_RE", "MAX_HOURS", "NAME_RE", "NAME_RULE", "NODE_RE", "RESERVED_ENV", "RUNTIME_RE",
               "SECRET_KEY_RE", "JobConfig", "TpuSpec", "check_name", "is_secret", "parse_job_config", "redact",
               "secret_values", "shown_env", "with_secrets"),
    "layout": ("INDEX_PREFIX", "JOB_ID_RE", "WORKER_KINDS", "agent_beat_key", "assignment_key", "attempt_key",
               "attempts_prefix", "bundle_key", "cancel_key", "cancels_prefix", "check_job_id", "index_job",
               "index_key", "iso", "job_id", "key_attempt", "key_worker", "log_key", "log_prefix", "node_for",
               "node_prefix", "outputs_prefix", "parse_iso", "problem_key", "spec_key", "stamp", "touch_key",
               "touch_prefix", "worker_key", "worker_prefix"),
    "protocol": ("FORMAT",),
    "state": ("FINAL_STATES", "AttemptRecords", "AttemptStatus", "JobStatus", "WorkerStatus", "attempt_state",
              "job_status", "outcome", "status_json", "worker_status"),
    "stored": ("CODE_RE", "HEADER_RE", "code_line", "config_header", "config_key", "config_version", "pushed_by",
               "read_code", "read_header", "shown_size", "strip_header"),
    "timing": ("JobTiming", "stale_after"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    """`jobs.JobConfig` and `from tpuctl.domain.jobs import JobConfig`: imported from its module now."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
