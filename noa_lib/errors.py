"""The one exception tree of NOA Runbooks.

    NoaError
    ├── ConfigError            bad or missing configuration (noa.toml, NOA_* env, secret references)
    ├── ParameterError         a runbook parameter is unknown, ill-typed or missing
    ├── ClientError            a backend call failed (mapped from the SDK's own errors)
    │   ├── NotFound           the object does not exist (HTTP 404, missing database…)
    │   ├── Conflict           the object changed or already exists (HTTP 409…)
    │   ├── Unavailable        the backend cannot be reached or refuses service
    │   └── Timeout            the backend did not answer in time
    ├── PreconditionFailed     the system is not in a state where the step may run
    ├── StepFailed             a runbook step ran and its check failed
    └── UnsafeActionRefused    a mutating step was refused (protected target without confirmation)

Messages never carry secret values: clients truncate and scrub backend messages before raising.
"""

from __future__ import annotations


class NoaError(Exception):
    """Base of every error raised by ``noa_lib``."""


class ConfigError(NoaError):
    """Configuration is missing, malformed, or names something that does not exist."""


class ParameterError(NoaError):
    """A runbook parameter is unknown, has the wrong type, or is missing.

    ``name`` is the offending parameter (or ``None`` for a general usage problem) and ``accepted``
    describes what would have been accepted.
    """

    def __init__(self, message: str, *, name: str | None = None, accepted: str | None = None):
        super().__init__(message)
        self.name = name
        self.accepted = accepted


class ClientError(NoaError):
    """A call to a backend (PostgreSQL, S3, Prometheus, Kubernetes) failed."""

    def __init__(self, message: str, *, backend: str | None = None):
        super().__init__(message)
        self.backend = backend


class NotFound(ClientError):
    """The requested object does not exist."""


class Conflict(ClientError):
    """The object was changed concurrently or already exists."""


class Unavailable(ClientError):
    """The backend cannot be reached (connection refused, DNS, TLS, 5xx)."""


class Timeout(ClientError):
    """The backend did not answer within the configured timeout."""


class PreconditionFailed(NoaError):
    """The system is not in a state where this step may run."""


class StepFailed(NoaError):
    """A runbook step ran and its check failed; the message says which."""


class UnsafeActionRefused(NoaError):
    """A mutating action was refused: confirmation missing or not matching a protected target."""


__all__ = [
    "ClientError",
    "ConfigError",
    "Conflict",
    "NoaError",
    "NotFound",
    "ParameterError",
    "PreconditionFailed",
    "StepFailed",
    "Timeout",
    "Unavailable",
    "UnsafeActionRefused",
]
