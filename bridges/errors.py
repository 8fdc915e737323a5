"""Errors only the daemon raises; each has the `code` sent in `/sai/error id code message`.

Library errors keep their own codes (`bad_input`, `bad_parameter`, `unknown_task`, `model`,
`missing_dependency`); anything else that escapes a task is reported as `internal`.
"""
from __future__ import annotations

from symbolic_ai.errors import SymbolicAIError


class DaemonError(SymbolicAIError):
    code = "error"
    http_status = 400


class BadRequest(DaemonError, ValueError):
    """A message or request of the wrong shape: missing id, wrong argument types, bad JSON."""

    code = "bad_request"


class Forbidden(DaemonError, PermissionError):
    """A path outside the allowed directories, or a file type the daemon will not read or write."""

    code = "forbidden"
    http_status = 403


class Unauthorized(DaemonError, PermissionError):
    """The daemon needs a token (it listens beyond loopback) and none or a wrong one came."""

    code = "unauthorized"
    http_status = 401


class TooLarge(DaemonError, ValueError):
    """Over a limit: notes, message size, file size."""

    code = "too_large"
    http_status = 413


class Busy(DaemonError, RuntimeError):
    """The queue is full, the request id is in use, or the daemon is shutting down."""

    code = "busy"
    http_status = 503


class DuplicateId(DaemonError, ValueError):
    """A request id that this client already has in progress."""

    code = "duplicate_id"
    http_status = 409


class NotFound(DaemonError, LookupError):
    code = "not_found"
    http_status = 404


class Cancelled(DaemonError):
    code = "cancelled"
    http_status = 409


class Timeout(DaemonError, TimeoutError):
    code = "timeout"
    http_status = 504


def error_code(exc: BaseException) -> str:
    """The protocol error code of any exception."""
    return getattr(exc, "code", "internal") if isinstance(exc, SymbolicAIError) else "internal"


def http_status(exc: BaseException) -> int:
    if isinstance(exc, DaemonError):
        return exc.http_status
    if isinstance(exc, SymbolicAIError):
        return 422 if exc.code in ("bad_input", "bad_parameter") else 404 if exc.code == "unknown_task" else 500
    return 500
