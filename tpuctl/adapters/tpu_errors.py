"""What Cloud TPU's errors mean to a member: one plain sentence each, and which are worth a retry.

Over REST the exception class follows the HTTP code (409 is Conflict, 400 BadRequest), so the
Google status name in the reply body decides: ALREADY_EXISTS vs ABORTED, and INVALID_ARGUMENT
vs FAILED_PRECONDITION. Google's libraries are imported inside the functions (they are slow to
import and `tpuctl --help` needs none of them).
"""

from __future__ import annotations

from contextlib import contextmanager

from tpuctl.errors import (
    CapacityError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    TpuctlError,
    UnavailableError,
    UsageError,
)

UNREACHABLE_HINT = "Check your network (or that the emulator is running) and try again."


class NotSent(UnavailableError):
    """Every attempt failed before anything reached Cloud TPU (no connection could be made),
    so the call certainly changed nothing."""


class Transient(Exception):
    """A failure worth another attempt (429, 5xx, a dropped connection); `final` is what to say
    once the attempts run out."""

    def __init__(self, final: TpuctlError):
        super().__init__(final.message)
        self.final = final


def translated(what: str, exc: BaseException) -> Exception:
    """The error to raise for `exc` met while trying to `what`: a TpuctlError, a Transient
    wrapping one, or `exc` itself when it is none of Google's or the transport's."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc
    import requests

    if isinstance(exc, (TpuctlError, Transient)):
        return exc
    if isinstance(exc, gexc.GoogleAPICallError):
        return _from_status(what, exc, api_status(exc))
    if isinstance(exc, auth_exc.RefreshError):
        return PermissionDeniedError(f"Could not {what}: your credentials were refused ({exc}).",
                                     hint="Run `gcloud auth application-default login` again.")
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        error = NotSent if _never_sent(exc) else UnavailableError
        return Transient(error(f"Could not {what}: the Cloud TPU API is unreachable ({type(exc).__name__}).",
                               hint=UNREACHABLE_HINT))
    return exc


def is_transient(exc: BaseException) -> bool:
    """Whether another attempt may succeed (the predicate of every retry of this adapter)."""
    return isinstance(translated("", exc), Transient)


@contextmanager
def translate_errors(what: str):
    """Raise one plain sentence about `what` instead of a Google or transport exception."""
    try:
        yield
    except Exception as exc:
        error = translated(what, exc)
        if error is exc:
            raise
        raise (error.final if isinstance(error, Transient) else error) from None


def _from_status(what: str, exc, status: str) -> Exception:
    message = api_message(exc)
    if status == "NOT_FOUND":
        return NotFoundError(f"Could not {what}: it does not exist ({message}).",
                             hint="`tpuctl list --all-zones` shows what exists.")
    if status == "ALREADY_EXISTS":
        return ConflictError(f"Could not {what}: the name is already taken ({message}).",
                             hint="Pick another name, or delete the existing one first.")
    if status in ("FAILED_PRECONDITION", "ABORTED"):
        return ConflictError(f"Could not {what}: {message}.")
    if status in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
        return PermissionDeniedError(f"Could not {what}: permission denied ({message}).",
                                     hint="Check that your account has the TPU Admin role on the project.")
    if exc.code == 429 and hasattr(getattr(exc, "response", None), "status_code"):
        return Transient(CapacityError(f"Could not {what}: the API kept answering 'too many requests' ({message}).",
                                       hint="Wait a minute and try again."))
    if status == "RESOURCE_EXHAUSTED":
        # An operation that failed for capacity or quota (429 replies to a request are retried above).
        return CapacityError(f"Could not {what}: {message}.",
                             hint="Try another zone, a smaller type, or `tpuctl create --queue` to wait for capacity.")
    if status in ("UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED") or exc.code in (500, 502, 503, 504):
        return Transient(UnavailableError(f"Could not {what}: the Cloud TPU API is unavailable ({message}).",
                                          hint=UNREACHABLE_HINT))
    if status == "INVALID_ARGUMENT" or exc.code == 400:
        return _invalid(what, message)
    return TpuctlError(f"Could not {what}: {message}.")


def _invalid(what: str, message: str) -> UsageError:
    """A refused argument; an accelerator type the zone does not offer points at `tpuctl types`,
    not at the API path the server names."""
    import re

    if "accelerator type" not in message.lower():
        return UsageError(f"Could not {what}: {message}.")
    message = re.sub(r";?\s*see projects/\S*$", "", message).rstrip(".")
    zone = re.search(r"\bin (?:zone )?([a-z]+-[a-z]+[0-9]+-[a-z])\b", f"{message} {what}")
    hint = f"`tpuctl types --zone {zone.group(1)}` lists the types it offers." if zone else \
        "`tpuctl types --zone ZONE` lists the types a zone offers."
    return UsageError(f"Could not {what}: {message}.", hint=hint)


def in_doubt(exc: TpuctlError) -> bool:
    """Whether a call that failed this way may still have taken effect: retries ran out, the
    API went away or a wait timed out (not: nothing was sent, or Cloud TPU said no)."""
    if isinstance(exc, NotSent):
        return False
    return isinstance(exc, UnavailableError) or getattr(exc, "transient", False)


def _never_sent(exc: Exception) -> bool:
    """A connection that could not even be opened: the request never left this machine."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def gone(exc: Exception) -> bool:
    """A retried delete whose first attempt went through."""
    return api_status(exc) == "NOT_FOUND"


def api_status(exc) -> str:
    """The Google status name (NOT_FOUND, ALREADY_EXISTS, ...) of an API error."""
    response = getattr(exc, "response", None)
    try:
        status = response.json()["error"]["status"]
        if status:
            return str(status)
    except Exception:
        pass
    grpc_code = getattr(exc, "grpc_status_code", None)
    if grpc_code is not None:
        return grpc_code.name
    return {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
            409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}.get(getattr(exc, "code", None) or 0, "UNKNOWN")


def api_message(exc) -> str:
    """The server's own sentence, without the method and URL the REST transport prepends."""
    response = getattr(exc, "response", None)
    try:
        message = response.json()["error"]["message"]
    except Exception:
        message = getattr(exc, "message", None) or str(exc)
    return str(message).strip().rstrip(".")
