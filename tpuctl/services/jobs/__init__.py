"""Job use cases: stored configs, run, status, logs, follow, cancel, resume.

Services get the group store, the Cloud TPU adapter and a clock (or, where they make or
delete TPUs, the ledger's `Books`, which hold the store and the clock), return plain data and
never print. One module per responsibility; this package names them all, so callers say
`from tpuctl.services import jobs` and `jobs.submit(...)`.
"""

from tpuctl.services.jobs.configs import (
    CodeListing, LoadedConfig, SeenVersions, StoredConfig, config_code, config_versions, list_configs, load_config,
    pull_config, push_config, read_config, shown_text, unpack_code,
)
from tpuctl.services.jobs.resume import ResumePass, resume_all, resume_job, resume_one
from tpuctl.services.jobs.status import (
    FollowEvent, cancel_job, download_outputs, follow, has_ended, last_lines, list_jobs, log_chunks,
    note_lost_node, outputs, read_spec, read_status, settle, settle_seconds,
)
from tpuctl.services.jobs.run import RunAsk, Started, run
from tpuctl.services.jobs.views import (
    Cancelled, Followed, JobView, Logs, Resumed, Tail, cancel, download, follow_to_end, jobs, logs, resume, show,
)
from tpuctl.services.jobs.submit import stage_workdir, submit

__all__ = [
    "CodeListing", "FollowEvent", "LoadedConfig", "ResumePass", "SeenVersions", "StoredConfig", "config_code",
    "pull_config", "shown_text", "unpack_code", "cancel_job", "config_versions", "download_outputs", "follow",
    "has_ended", "last_lines", "list_configs", "list_jobs", "load_config", "log_chunks", "note_lost_node",
    "outputs", "push_config", "read_config", "read_spec", "read_status", "resume_all", "resume_job", "resume_one",
    "settle", "settle_seconds", "stage_workdir", "submit", "RunAsk", "Started", "run", "Cancelled", "Followed", "JobView", "Logs", "Resumed", "Tail", "cancel", "download",
    "follow_to_end", "jobs", "logs", "resume", "show",
]
