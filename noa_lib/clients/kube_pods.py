"""Pods, their logs, events and the service/pod proxy of the Kubernetes API.

Read-only helpers over the official client for the deployment checks and the log investigation:

- :func:`list_pods` — pods (by label selector) as :class:`PodInfo`: phase, readiness, restarts, the
  last termination reason (``OOMKilled``, ``Error``), image and version (its tag), node, start;
- :func:`read_pod_log` — a container's log text (``since_seconds``, ``tail_lines``, ``previous``,
  ``timestamps``) as the API server sent it (raw: the client's own deserializer would turn a
  one-line JSON log into a Python dict repr);
- :func:`proxy` — an HTTP request to a Service (or a Pod) through the API server's proxy
  (``/api/v1/namespaces/{ns}/services/{name}/proxy/{path}``), answered as
  :class:`ProxyAnswer` ``(status, body)`` (JSON, or text) whatever the workload's status code —
  a 401 from a smoke test is an answer, not an error. Failures of the API server itself (no
  such service, no endpoints available) raise, mapped like every other call;
- :func:`list_events` — events, optionally of one object.

Names are validated as DNS-1123 (:mod:`noa_lib.ops.names` rules, restated here because clients
sit below ops) before any request; errors are mapped by
:func:`noa_lib.clients.kubernetes.mapped_errors`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple
from urllib.parse import quote

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from noa_lib.clients.images import parse_image
from noa_lib.clients.kubernetes import TimeoutApiClient, api_client, mapped_errors
from noa_lib.config import KubernetesSettings
from noa_lib.errors import ConfigError, ParameterError

Obj = dict[str, Any]
_LABEL_RE = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?\Z")
_PART = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_RE = re.compile(rf"{_PART}(?:\.{_PART})*\Z")
APP_AUTH_HEADER = "X-Noa-Authorization"
"""Where an application bearer token travels through the proxy: the API server consumes the
``Authorization`` header (it authenticates us to the API server and is not forwarded)."""
MAX_PROXY_BODY = 1_000_000
"""Bytes of a proxied answer kept (health and smoke endpoints answer a few hundred)."""


@dataclass(frozen=True)
class PodInfo:
    """One pod as the deployment checks see it.

    ``ready`` is the pod's ``Ready`` condition; ``restarts`` the sum over its containers;
    ``last_termination`` the reason of the most recent container termination (``OOMKilled``,
    ``Error``…) or ``None``; ``waiting`` a container's waiting reason (``CrashLoopBackOff``,
    ``ImagePullBackOff``) or ``None``; ``version`` the tag of the first container's image.
    """

    name: str
    namespace: str
    phase: str
    ready: bool
    restarts: int
    last_termination: str | None
    waiting: str | None
    image: str
    version: str
    node: str | None
    started: datetime | None
    containers: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)


class ProxyAnswer(NamedTuple):
    """The workload's answer through the proxy: ``(status, body)`` — ``body`` is the parsed JSON,
    or the text (truncated to :data:`MAX_PROXY_BODY`) when the answer is not JSON."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        """A 2xx status."""
        return 200 <= self.status < 300

    @property
    def json(self) -> Any:
        """The parsed JSON body, ``None`` when the answer was not JSON."""
        return None if isinstance(self.body, str) else self.body

    @property
    def text(self) -> str:
        """The body as text (JSON re-serialized)."""
        return self.body if isinstance(self.body, str) else json.dumps(self.body)


@dataclass(frozen=True)
class EventInfo:
    """One Kubernetes event."""

    type: str
    reason: str
    message: str
    kind: str
    name: str
    count: int
    first: datetime | None
    last: datetime | None


def check_name(value: str, parameter: str, kind: Literal["label", "subdomain"] = "subdomain"
               ) -> str:
    """``value`` when it is a DNS-1123 label/subdomain; ``ParameterError`` otherwise."""
    pattern, limit = (_LABEL_RE, 63) if kind == "label" else (_SUBDOMAIN_RE, 253)
    if not isinstance(value, str) or len(value) > limit or not pattern.match(value):
        raise ParameterError(
            f"{parameter}={value!r} is not a DNS-1123 {kind}", name=parameter,
            accepted=f"a DNS-1123 {kind}: lower-case letters, digits and '-'"
            + (" and '.'" if kind == "subdomain" else "") + f", at most {limit} characters",
        )
    return value


def _settings(settings: KubernetesSettings | None) -> KubernetesSettings:
    if settings is None:
        raise ConfigError("Kubernetes is not configured for this target")
    return settings


def _namespace(settings: KubernetesSettings, namespace: str | None) -> str:
    return check_name(namespace or settings.namespace, "namespace", "label")


def _raw(
    api: TimeoutApiClient,
    method: str,
    path: str,
    *,
    query: list[tuple[str, Any]] | None = None,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, bytes, dict[str, str]]:
    """One request on ``path`` (already quoted) with the client's auth; any status returned."""
    header_params = {"Accept": "*/*", **(headers or {})}
    if body is not None and "Content-Type" not in header_params:
        header_params["Content-Type"] = "application/json"
    params = api.param_serialize(
        method=method, resource_path=path, query_params=query or [],
        header_params=header_params, body=body, auth_settings=["BearerToken"],
    )
    response = api.call_api(*params)
    data = response.read() or b""
    return int(response.status), bytes(data), dict(response.getheaders() or {})


def _raise_for(status: int, data: bytes, headers: Mapping[str, str]) -> None:
    if not 200 <= status <= 299:
        exc = ApiException(status=status, reason="")
        exc.body = data.decode("utf-8", "replace")
        exc.headers = headers
        raise exc


def _time(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def pod_info(obj: Obj) -> PodInfo:
    """A :class:`PodInfo` from a pod as the API server sends it (JSON)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    containers = spec.get("containers") or []
    image = str(containers[0].get("image", "")) if containers else ""
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or [])
    restarts = 0
    last: tuple[datetime | None, str] | None = None
    waiting: str | None = None
    for cs in status.get("containerStatuses") or []:
        restarts += int(cs.get("restartCount") or 0)
        terminated = (cs.get("lastState") or {}).get("terminated") or (
            cs.get("state") or {}).get("terminated")
        if terminated and terminated.get("reason"):
            when = _time(terminated.get("finishedAt"))
            if last is None or (when and (last[0] is None or when > last[0])):
                last = (when, str(terminated["reason"]))
        reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
        if reason and waiting is None:
            waiting = str(reason)
    return PodInfo(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        phase=str(status.get("phase") or "Unknown"),
        ready=ready,
        restarts=restarts,
        last_termination=last[1] if last else None,
        waiting=waiting,
        image=image,
        version=image_tag(image),
        node=spec.get("nodeName"),
        started=_time(status.get("startTime")),
        containers=tuple(str(c.get("name", "")) for c in containers),
        labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
    )


def image_tag(image: str) -> str:
    """The version an image reference runs (``registry:5000/noa-server:2.15.0`` -> ``2.15.0``;
    ``latest`` when there is no tag; the digest when pinned by digest alone)."""
    return parse_image(image).version


def list_pods(
    settings: KubernetesSettings | None,
    namespace: str | None = None,
    *,
    label_selector: str | None = None,
) -> list[PodInfo]:
    """Pods of ``namespace`` (default: the configured one) matching ``label_selector``, by name.

    Raises:
        ParameterError: a bad namespace (before any call).
        ConfigError / Unavailable / Timeout / NotFound / ClientError: the API call failed.
    """
    s = _settings(settings)
    ns = _namespace(s, namespace)
    with api_client(s) as api, mapped_errors(api):
        response: Any = k8s.CoreV1Api(api).list_namespaced_pod(
            ns, label_selector=label_selector, _preload_content=False
        )
        body = json.loads(response.data)
    pods = [pod_info(item) for item in body.get("items") or []]
    return sorted(pods, key=lambda p: p.name)


def read_pod_log(
    settings: KubernetesSettings | None,
    namespace: str | None,
    pod: str,
    container: str | None = None,
    *,
    since_seconds: int | None = None,
    tail_lines: int | None = None,
    previous: bool = False,
    timestamps: bool = True,
    limit_bytes: int | None = None,
) -> str:
    """The log text of one container of ``pod`` (``previous``: of its last terminated one).

    Raises:
        ParameterError: a bad name or a non-positive window/line count (before any call).
        NotFound: no such pod. ClientError: e.g. ``previous`` without a terminated container
            (HTTP 400 from the API server), a missing container name for a multi-container pod.
        ConfigError / Unavailable / Timeout: as every call.
    """
    s = _settings(settings)
    ns = _namespace(s, namespace)
    check_name(pod, "pod")
    if container is not None:
        check_name(container, "container", "label")
    for name, value in (("since_seconds", since_seconds), ("tail_lines", tail_lines),
                        ("limit_bytes", limit_bytes)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value <= 0):
            raise ParameterError(f"{name}={value!r} must be a positive integer", name=name,
                                 accepted="a positive integer")
    query: list[tuple[str, Any]] = []
    if container:
        query.append(("container", container))
    if since_seconds:
        query.append(("sinceSeconds", since_seconds))
    if tail_lines:
        query.append(("tailLines", tail_lines))
    if limit_bytes:
        query.append(("limitBytes", limit_bytes))
    if previous:
        query.append(("previous", "true"))
    if timestamps:
        query.append(("timestamps", "true"))
    path = f"/api/v1/namespaces/{ns}/pods/{pod}/log"
    with api_client(s) as api, mapped_errors(api):
        status, data, headers = _raw(api, "GET", path, query=query)
        _raise_for(status, data, headers)
    return data.decode("utf-8", "replace")


def proxy(
    settings: KubernetesSettings | None,
    namespace: str | None,
    service_or_pod: str,
    path: str,
    method: str = "GET",
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    kind: Literal["service", "pod"] = "service",
    port: str | None = None,
) -> ProxyAnswer:
    """Send ``method path`` to a Service's Ready pods (or one Pod) through the API server proxy.

    ``body`` is sent as JSON. The workload's status is returned, whatever it is. An
    ``Authorization`` header in ``headers`` (an application token, e.g. from a smoke login) is
    sent as :data:`APP_AUTH_HEADER`, since the API server keeps ``Authorization`` for itself.

    Raises:
        ParameterError: a bad name, method, kind or path (before any call).
        NotFound: no such service/pod. Unavailable: no endpoints available (no Ready pod).
        ConfigError / Timeout / ClientError: as every call.
    """
    s = _settings(settings)
    ns = _namespace(s, namespace)
    if kind not in ("service", "pod"):
        raise ParameterError(f"kind={kind!r}", name="kind", accepted="'service' or 'pod'")
    check_name(service_or_pod, kind, "label" if kind == "service" else "subdomain")
    verb = method.upper() if isinstance(method, str) else ""
    if verb not in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
        raise ParameterError(f"method={method!r}", name="method",
                             accepted="GET, POST, PUT, PATCH, DELETE or HEAD")
    if not isinstance(path, str) or not path.startswith("/") or ".." in path.split("?")[0]:
        raise ParameterError(f"path={path!r} must be an absolute path without '..'",
                             name="path", accepted="an absolute path such as /healthz")
    if port is not None:
        check_name(port, "port", "label")
    forwarded = {(APP_AUTH_HEADER if k.lower() == "authorization" else k): v
                 for k, v in (headers or {}).items()}
    target = service_or_pod + (f":{port}" if port else "")
    plural = "services" if kind == "service" else "pods"
    resource = f"/api/v1/namespaces/{ns}/{plural}/{target}/proxy{quote(path, safe='/?=&%')}"
    with api_client(s) as api, mapped_errors(api):
        status, data, rsp_headers = _raw(api, verb, resource, body=body, headers=forwarded)
        text = data[:MAX_PROXY_BODY].decode("utf-8", "replace")
        parsed = _json(text)
        if _from_api_server(parsed):
            _raise_for(status, data, rsp_headers)
    return ProxyAnswer(status, text if parsed is None else parsed)


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None


def _from_api_server(parsed: Any) -> bool:
    """Whether an answer is the API server's own failure ``Status`` (not the workload's)."""
    return (isinstance(parsed, dict) and parsed.get("kind") == "Status"
            and parsed.get("apiVersion") == "v1" and parsed.get("status") == "Failure")


def list_events(
    settings: KubernetesSettings | None,
    namespace: str | None = None,
    *,
    involved_name: str | None = None,
    involved_kind: str | None = None,
) -> list[EventInfo]:
    """Events of ``namespace``, optionally only those about one object; oldest first.

    Raises:
        ParameterError: a bad name (before any call).
        ConfigError / Unavailable / Timeout / NotFound / ClientError: the API call failed.
    """
    s = _settings(settings)
    ns = _namespace(s, namespace)
    selectors = []
    if involved_name is not None:
        selectors.append(f"involvedObject.name={check_name(involved_name, 'involved_name')}")
    if involved_kind is not None:
        if not re.fullmatch(r"[A-Z][A-Za-z]{0,62}", involved_kind or ""):
            raise ParameterError(f"involved_kind={involved_kind!r}", name="involved_kind",
                                 accepted="a Kubernetes kind such as Pod or Deployment")
        selectors.append(f"involvedObject.kind={involved_kind}")
    with api_client(s) as api, mapped_errors(api):
        response: Any = k8s.CoreV1Api(api).list_namespaced_event(
            ns, field_selector=",".join(selectors) or None, _preload_content=False
        )
        body = json.loads(response.data)
    events = []
    for item in body.get("items") or []:
        involved = item.get("involvedObject") or {}
        events.append(EventInfo(
            type=str(item.get("type") or ""),
            reason=str(item.get("reason") or ""),
            message=str(item.get("message") or ""),
            kind=str(involved.get("kind") or ""),
            name=str(involved.get("name") or ""),
            count=int(item.get("count") or 1),
            first=_time(item.get("firstTimestamp")) or _time(
                (item.get("metadata") or {}).get("creationTimestamp")),
            last=_time(item.get("lastTimestamp")) or _time(item.get("eventTime")),
        ))
    far = datetime.min
    return sorted(events, key=lambda e: (e.last or e.first or far).replace(tzinfo=None))


__all__ = [
    "APP_AUTH_HEADER",
    "MAX_PROXY_BODY",
    "EventInfo",
    "PodInfo",
    "ProxyAnswer",
    "check_name",
    "image_tag",
    "list_events",
    "list_pods",
    "pod_info",
    "proxy",
    "read_pod_log",
]
