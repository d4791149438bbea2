"""Jobs: one module per responsibility; this package names them all, so callers may say
`from tpuctl.domain.jobs import JobConfig` or `from tpuctl.domain import jobs as layout`.

- config: the YAML job config a member writes, and the secrets in its env
- stored: the lines tpuctl adds to a stored (pushed) config, and its keys
- layout: where a job lives in the group store
- timing: how often agents and followers act
- protocol: every object the agents and tpuctl exchange through the store, versioned, and
  the one place they are parsed (fields: the checks of single fields it uses)
- state: a job's state, derived from those objects (pure)
No I/O in any of them.
"""

from tpuctl.domain.jobs.config import (
    ENV_KEY_RE, MAX_HOURS, NAME_RE, NAME_RULE, NODE_RE, RESERVED_ENV, RUNTIME_RE, SECRET_KEY_RE, JobConfig, TpuSpec,
    check_name, is_secret, parse_job_config, redact, secret_values, shown_env, with_secrets,
)
from tpuctl.domain.jobs.layout import (
    INDEX_PREFIX, JOB_ID_RE, WORKER_KINDS, agent_beat_key, assignment_key, attempt_key, attempts_prefix, bundle_key,
    cancel_key, cancels_prefix, check_job_id, index_job, index_key, iso, job_id, key_attempt, key_worker, log_key, log_prefix,
    node_for, node_prefix, outputs_prefix, parse_iso, problem_key, spec_key, stamp, touch_key, touch_prefix,
    worker_key, worker_prefix,
)
from tpuctl.domain.jobs.protocol import FORMAT
from tpuctl.domain.jobs.state import (
    FINAL_STATES, AttemptRecords, AttemptStatus, JobStatus, WorkerStatus, attempt_state, job_status, outcome,
    status_json, worker_status,
)
from tpuctl.domain.jobs.stored import (
    CODE_RE, HEADER_RE, code_line, config_header, config_key, config_version, pushed_by, read_code, read_header,
    shown_size, strip_header,
)
from tpuctl.domain.jobs.timing import JobTiming, stale_after

__all__ = [
    "CODE_RE", "ENV_KEY_RE", "FINAL_STATES", "FORMAT", "HEADER_RE", "INDEX_PREFIX", "JOB_ID_RE", "MAX_HOURS",
    "NAME_RE", "NAME_RULE", "NODE_RE", "RESERVED_ENV", "RUNTIME_RE", "SECRET_KEY_RE", "WORKER_KINDS",
    "AttemptRecords", "AttemptStatus", "JobConfig", "JobStatus", "JobTiming", "TpuSpec", "WorkerStatus",
    "agent_beat_key", "assignment_key", "attempt_key", "attempt_state", "attempts_prefix", "bundle_key",
    "cancel_key", "cancels_prefix", "check_job_id", "check_name", "code_line", "config_header", "config_key", "config_version",
    "index_job", "index_key", "is_secret", "iso", "job_id", "job_status", "key_attempt", "key_worker", "log_key",
    "log_prefix", "node_for", "node_prefix", "outcome", "outputs_prefix", "parse_iso", "parse_job_config",
    "problem_key", "pushed_by", "read_code", "read_header", "redact", "secret_values", "shown_env", "shown_size",
    "spec_key", "stale_after", "stamp", "status_json", "strip_header", "touch_key", "touch_prefix", "with_secrets",
    "worker_key", "worker_prefix", "worker_status",
]
