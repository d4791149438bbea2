"""API errors that know their HTTP status and Google status name, so handlers just raise.

The same error can end a long-running operation; there it is reported with its gRPC code
(`Operation.error.code`), which is why each class carries both numbers.
"""

from __future__ import annotations


class ApiError(Exception):
    http_status = 500
    grpc_code = 13
    status = "INTERNAL"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __init_subclass__(cls, http: int | None = None, grpc: int | None = None, status: str | None = None,
                          **kwargs):
        """Each error names its HTTP status, gRPC code and Google status in its class line."""
        super().__init_subclass__(**kwargs)
        if http is not None:
            cls.http_status, cls.grpc_code, cls.status = http, grpc, status

    def body(self) -> dict:
        """Google's JSON error shape, as the client libraries parse it."""
        return {"error": {"code": self.http_status, "message": self.message, "status": self.status}}

    def operation_error(self) -> dict:
        """The `google.rpc.Status` an operation that failed this way carries."""
        return {"code": self.grpc_code, "message": self.message}


class InvalidArgument(ApiError, http=400, grpc=3, status="INVALID_ARGUMENT"):
    """The request is malformed."""


class FailedPrecondition(ApiError, http=400, grpc=9, status="FAILED_PRECONDITION"):
    """The resource is not in a state that allows this."""


class NotFound(ApiError, http=404, grpc=5, status="NOT_FOUND"):
    """No such resource."""


class AlreadyExists(ApiError, http=409, grpc=6, status="ALREADY_EXISTS"):
    """The name is taken."""


class Aborted(ApiError, http=409, grpc=10, status="ABORTED"):
    """A concurrent change won."""


class DeadlineExceeded(ApiError, http=504, grpc=4, status="DEADLINE_EXCEEDED"):
    """The call took too long."""


class ResourceExhausted(ApiError, http=429, grpc=8, status="RESOURCE_EXHAUSTED"):
    """Quota or capacity is used up."""


class Internal(ApiError):
    """A bug in the emulator, or an injected fault."""


class Cancelled(ApiError, http=499, grpc=1, status="CANCELLED"):
    """The caller went away."""


class Unimplemented(ApiError, http=501, grpc=12, status="UNIMPLEMENTED"):
    """The emulator does not do this."""


class Unavailable(ApiError, http=503, grpc=14, status="UNAVAILABLE"):
    """The service is down for now."""


_BY_HTTP_STATUS = {400: InvalidArgument, 404: NotFound, 409: AlreadyExists, 429: ResourceExhausted,
                   500: Internal, 501: Unimplemented, 503: Unavailable}


def error_for_status(http_status: int, message: str | None = None) -> ApiError:
    """An error for an injected fault given only its HTTP status."""
    cls = _BY_HTTP_STATUS.get(http_status)
    if cls is None:
        cls = type("InjectedError", (ApiError,), {}, http=http_status, grpc=2, status="UNKNOWN")
    return cls(message or f"Injected fault: the emulator answered {http_status} {cls.status}.")
