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

    def __init_subclass__(cls, exit_code: int | None = None, code: str | None = None, **kwargs):
        """Each kind of error names its exit code and --json code in its class line."""
        super().__init_subclass__(**kwargs)
        if exit_code is not None:
            cls.exit_code = exit_code
        if code is not None:
            cls.code = code


class UsageError(TpuctlError, exit_code=ExitCode.USAGE, code="usage"):
    """A bad flag or argument."""


class ConfigError(TpuctlError, exit_code=ExitCode.CONFIG, code="config"):
    """A bad or missing config, profile, price file or job file."""


class NotFoundError(TpuctlError, exit_code=ExitCode.NOT_FOUND, code="not_found"):
    """No such node, queued resource, job or zone."""


class ConflictError(TpuctlError, exit_code=ExitCode.CONFLICT, code="conflict"):
    """The name is taken, or the resource is in the wrong state."""


class PermissionDeniedError(TpuctlError, exit_code=ExitCode.PERMISSION, code="permission"):
    """Credentials are missing, or the caller may not do this."""


class CapacityError(TpuctlError, exit_code=ExitCode.CAPACITY, code="capacity"):
    """Quota or the zone's capacity is exhausted."""


class UnavailableError(TpuctlError, exit_code=ExitCode.UNAVAILABLE, code="unavailable"):
    """The API or the store could not be reached after retries."""


class BudgetRefused(TpuctlError, exit_code=ExitCode.BUDGET, code="budget"):
    """Budget admission refused the request."""


class Aborted(TpuctlError, exit_code=ExitCode.ABORTED, code="aborted"):
    """The user said no at a confirmation prompt."""


class JobFailed(TpuctlError, exit_code=ExitCode.JOB_FAILED, code="job_failed"):
    """A followed job ended in failure."""
