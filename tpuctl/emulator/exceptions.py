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

    def body(self) -> dict:
        """Google's JSON error shape, as the client libraries parse it."""
        return {"error": {"code": self.http_status, "message": self.message, "status": self.status}}

    def operation_error(self) -> dict:
        """The `google.rpc.Status` an operation that failed this way carries."""
        return {"code": self.grpc_code, "message": self.message}


class InvalidArgument(ApiError):
    http_status, grpc_code, status = 400, 3, "INVALID_ARGUMENT"


class FailedPrecondition(ApiError):
    http_status, grpc_code, status = 400, 9, "FAILED_PRECONDITION"


class NotFound(ApiError):
    http_status, grpc_code, status = 404, 5, "NOT_FOUND"


class AlreadyExists(ApiError):
    http_status, grpc_code, status = 409, 6, "ALREADY_EXISTS"


class Aborted(ApiError):
    http_status, grpc_code, status = 409, 10, "ABORTED"


class DeadlineExceeded(ApiError):
    http_status, grpc_code, status = 504, 4, "DEADLINE_EXCEEDED"


class ResourceExhausted(ApiError):
    http_status, grpc_code, status = 429, 8, "RESOURCE_EXHAUSTED"


class Internal(ApiError):
    pass


class Cancelled(ApiError):
    http_status, grpc_code, status = 499, 1, "CANCELLED"


class Unimplemented(ApiError):
    http_status, grpc_code, status = 501, 12, "UNIMPLEMENTED"


class Unavailable(ApiError):
    http_status, grpc_code, status = 503, 14, "UNAVAILABLE"


_BY_HTTP_STATUS = {400: InvalidArgument, 404: NotFound, 409: AlreadyExists, 429: ResourceExhausted,
                   500: Internal, 501: Unimplemented, 503: Unavailable}


def error_for_status(http_status: int, message: str | None = None) -> ApiError:
    """An error for an injected fault given only its HTTP status."""
    cls = _BY_HTTP_STATUS.get(http_status)
    if cls is None:
        cls = type("InjectedError", (ApiError,), {"http_status": http_status, "status": "UNKNOWN", "grpc_code": 2})
    return cls(message or f"Injected fault: the emulator answered {http_status} {cls.status}.")
