"""The errors tpuctl expects, each with the exit code documented in the README.

Every layer raises these; only the CLI boundary prints them (one sentence, a hint) and
exits with `exit_code`. Anything else is a bug and shows a traceback only with --debug.
"""

from __future__ import annotations


class ExitCode:
    OK = 0
    INTERNAL = 1          # a bug: please report it (traceback with --debug)
    USAGE = 2             # bad flag or argument (also Typer's own usage errors)
    CONFIG = 3            # bad or missing config, profile, price file, job file
    NOT_FOUND = 4         # no such node, queued resource, job, zone
    CONFLICT = 5          # name taken, or the resource is in the wrong state
    PERMISSION = 6        # credentials missing or not allowed
    CAPACITY = 7          # quota or zone capacity exhausted
    UNAVAILABLE = 8       # API or store unreachable after retries
    BUDGET = 9            # refused by budget admission
    ABORTED = 10          # the user said no at a confirmation prompt
    JOB_FAILED = 11       # a followed job ended in failure


class TpuctlError(Exception):
    """An expected failure: a plain sentence, how to fix it, and the exit code."""

    exit_code = ExitCode.INTERNAL
    code = "error"
    details: dict | None = None       # extra fields for the --json error envelope

    def __init__(self, message: str, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(TpuctlError):
    exit_code = ExitCode.USAGE
    code = "usage"


class ConfigError(TpuctlError):
    exit_code = ExitCode.CONFIG
    code = "config"


class NotFoundError(TpuctlError):
    exit_code = ExitCode.NOT_FOUND
    code = "not_found"


class ConflictError(TpuctlError):
    exit_code = ExitCode.CONFLICT
    code = "conflict"


class PermissionDeniedError(TpuctlError):
    exit_code = ExitCode.PERMISSION
    code = "permission"


class CapacityError(TpuctlError):
    exit_code = ExitCode.CAPACITY
    code = "capacity"


class UnavailableError(TpuctlError):
    exit_code = ExitCode.UNAVAILABLE
    code = "unavailable"


class BudgetRefused(TpuctlError):
    exit_code = ExitCode.BUDGET
    code = "budget"


class Aborted(TpuctlError):
    exit_code = ExitCode.ABORTED
    code = "aborted"


class JobFailed(TpuctlError):
    exit_code = ExitCode.JOB_FAILED
    code = "job_failed"
