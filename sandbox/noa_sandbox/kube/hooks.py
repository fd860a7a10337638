"""What the Kubernetes API server asks of the simulated cluster behind it.

The HTTP server (:mod:`.server`) knows the Kubernetes API; the cluster (:mod:`.cluster`) knows
what NOA Server's pods do. The server calls these hooks for the parts of the API whose answers
come from running workloads rather than from stored objects:

- ``pod_logs``   ``GET /api/v1/namespaces/{ns}/pods/{name}/log`` -> the log text of one container;
- ``proxy``      ``/api/v1/namespaces/{ns}/services/{name}[:port]/proxy/{path}`` and
                 ``/api/v1/namespaces/{ns}/pods/{name}[:port]/proxy/{path}`` -> an HTTP answer of
                 the workload (health endpoints, smoke tests);
- ``image_digest`` ``GET|HEAD /v2/{repository}/manifests/{tag}`` (the OCI distribution API of the
                 sandbox registry) -> the manifest digest of a published image, or ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]


@dataclass(frozen=True)
class LogQuery:
    """The query parameters of a pod log request (already validated by the server)."""

    container: str
    tail_lines: int | None = None
    since_seconds: int | None = None
    since_time: str | None = None  # RFC 3339
    timestamps: bool = False
    previous: bool = False
    limit_bytes: int | None = None


@dataclass(frozen=True)
class ProxyRequest:
    """One proxied HTTP request: ``pods`` are the Ready pods behind the service (or the pod)."""

    method: str
    path: str  # after ``/proxy``, starting with ``/``, query string included
    headers: Mapping[str, str]
    body: bytes
    pods: tuple[Obj, ...]


@dataclass(frozen=True)
class ProxyResponse:
    """The workload's answer."""

    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass(frozen=True)
class Hooks:
    """The cluster's callbacks; ``None`` ones answer 404 (logs: empty text)."""

    pod_logs: Callable[[Obj, LogQuery], str] | None = None
    proxy: Callable[[ProxyRequest], ProxyResponse] | None = None
    image_digest: Callable[[str, str], str | None] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


__all__ = ["Hooks", "LogQuery", "Obj", "ProxyRequest", "ProxyResponse"]
