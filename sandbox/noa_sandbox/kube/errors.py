"""``ApiError``: a failure of the sandbox API server, rendered as a Kubernetes ``Status``.

Every layer of the package (selectors, patches, store, server) raises :class:`ApiError`; the
HTTP server turns it into the JSON ``Status`` object the real API server sends, e.g.::

    {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
     "message": "deployments.apps \\"api\\" not found", "reason": "NotFound",
     "details": {"name": "api", "group": "apps", "kind": "deployments"}, "code": 404}

The constructors below produce the real server's messages (``not_found``, ``already_exists``,
``conflict``, ``invalid``...), so clients that match on them behave as against a real cluster.
"""

from __future__ import annotations

from typing import Any

REASONS: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """An API failure: HTTP ``status``, Kubernetes ``reason``, ``message`` and ``details``."""

    def __init__(
        self, status: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.details = details

    def to_status(self) -> dict[str, Any]:
        """The ``Status`` object the real API server sends for this failure."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.status
        return body


def qualified(plural: str, group: str) -> str:
    """``deployments.apps`` / ``pods``: how the API server names a resource in messages."""
    return f"{plural}.{group}" if group else plural


def _details(name: str | None, group: str, kind: str) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = kind
    return details


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{qualified(plural, group)} "{name}" not found',
        _details(name, group, plural),
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(plural, group)} "{name}" already exists',
        _details(name, group, plural),
    )


def conflict(plural: str, group: str, name: str, why: str | None = None) -> ApiError:
    reason = why or "the object has been modified; please apply your changes to the latest " \
        "version and try again"
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {reason}',
        _details(name, group, plural),
    )


def invalid(
    kind: str, group: str, name: str, causes: list[tuple[str, str]]
) -> ApiError:
    """422 Invalid; ``causes`` are ``(field, message)`` pairs like the real validation errors."""
    label = f"{kind}.{group}" if group else kind
    joined = ", ".join(f"{field}: {msg}" for field, msg in causes)
    if len(causes) > 1:
        joined = f"[{joined}]"
    details = _details(name, group, kind)
    details["causes"] = [
        {"reason": _cause_reason(msg), "message": msg, "field": field} for field, msg in causes
    ]
    return ApiError(422, "Invalid", f'{label} "{name}" is invalid: {joined}', details)


def _cause_reason(message: str) -> str:
    for prefix, reason in (
        ("Required value", "FieldValueRequired"),
        ("Invalid value", "FieldValueInvalid"),
        ("Unsupported value", "FieldValueNotSupported"),
        ("Forbidden", "FieldValueForbidden"),
        ("Too long", "FieldValueTooLong"),
        ("Duplicate value", "FieldValueDuplicate"),
    ):
        if message.startswith(prefix):
            return reason
    return "FieldValueInvalid"


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def gone(message: str) -> ApiError:
    """410 for a watch whose resourceVersion left the retained window (reason ``Expired``)."""
    return ApiError(410, "Expired", message)


def from_status(status: int, message: str, details: dict[str, Any] | None = None) -> ApiError:
    """An error with the standard reason of an HTTP status (used by fault injection)."""
    return ApiError(status, REASONS.get(status, "Unknown"), message, details)


__all__ = [
    "REASONS",
    "ApiError",
    "already_exists",
    "bad_request",
    "conflict",
    "from_status",
    "gone",
    "invalid",
    "not_found",
    "qualified",
]
