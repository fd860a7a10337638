"""Kubernetes API client: the official client with a default request timeout, errors mapped.

The only module that imports ``kubernetes``. :func:`api_client` builds an ``ApiClient`` either
from ``api_url`` (+ bearer token) or from a kubeconfig context. Every request made through it
carries ``(connect, read)`` timeouts unless the caller passes its own ``_request_timeout``, and
connection failures are retried at most once.

Error mapping (:func:`mapped_errors`)::

    connection refused / DNS / HTTP 5xx      -> Unavailable
    connect or read timeout                  -> Timeout
    HTTP 404                                 -> NotFound
    HTTP 409                                 -> Conflict
    HTTP 401/403/422, bad kubeconfig, other  -> ClientError (kubeconfig problems: ConfigError;
                                                a 403 names the RBAC rule that would allow it)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException, OpenApiException
from kubernetes.config.config_exception import ConfigException

from noa_lib.clients._errors import failure, safe
from noa_lib.clients.kube_rbac import rbac_hint
from noa_lib.config import KubernetesSettings
from noa_lib.errors import ClientError, ConfigError, Conflict, NotFound, Timeout, Unavailable

BACKEND = "Kubernetes API"


@dataclass(frozen=True)
class KubernetesProbe:
    """What :func:`probe` learnt about an API server."""

    endpoint: str
    version: str
    platform: str
    latency_ms: float


class TimeoutApiClient(k8s.ApiClient):
    """An ``ApiClient`` whose requests default to ``(connect, read)`` timeouts."""

    def __init__(self, configuration: Any, timeout: tuple[float, float]) -> None:
        super().__init__(configuration)
        self.default_timeout = timeout

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("_request_timeout") is None:
            kwargs["_request_timeout"] = self.default_timeout
        return super().call_api(*args, **kwargs)


def timeouts(settings: KubernetesSettings) -> tuple[float, float]:
    """``(connect, read)`` seconds used for every request."""
    return (min(settings.timeout, 5.0), settings.timeout)


def api_client(settings: KubernetesSettings) -> TimeoutApiClient:
    """An ``ApiClient`` for ``settings`` (use it as a context manager, or ``close()`` it).

    With ``api_url`` the token (if any) is resolved and sent as ``Authorization: Bearer``;
    otherwise the kubeconfig (``kubeconfig`` path or the default one) and ``context`` are used.

    Raises:
        ConfigError: the token reference cannot be resolved or the kubeconfig is unusable.
    """
    configuration = k8s.Configuration()
    if settings.api_url:
        configuration.host = settings.api_url.rstrip("/")
        if settings.token is not None:
            configuration.api_key = {"authorization": f"Bearer {settings.token.resolve()}"}
    else:
        try:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=settings.kubeconfig,
                context=settings.context,
                client_configuration=configuration,
                persist_config=False,
            )
        except (ConfigException, OSError) as exc:
            raise ConfigError(f"kubeconfig is unusable: {safe(str(exc))}") from None
    configuration.verify_ssl = settings.verify_ssl
    configuration.retries = urllib3.Retry(total=1, read=0, status=0, backoff_factor=0.2)
    return TimeoutApiClient(configuration, timeouts(settings))


def endpoint(settings: KubernetesSettings) -> str:
    """The API URL, or ``kubeconfig context <name>`` when the kubeconfig decides."""
    if settings.api_url:
        return settings.api_url
    return f"kubeconfig context {settings.context or '(current)'}"


def version(api: TimeoutApiClient) -> dict[str, str]:
    """``GET /version``: ``gitVersion``, ``platform``… of the API server.

    Raises:
        Unavailable / Timeout / NotFound / ClientError: see the module docstring.
    """
    with mapped_errors(api):
        info = k8s.VersionApi(api).get_code()
    return {
        "gitVersion": str(info.git_version),
        "platform": str(info.platform),
        "major": str(info.major),
        "minor": str(info.minor),
    }


def probe(settings: KubernetesSettings) -> KubernetesProbe:
    """Ask the API server its version and time the round trip.

    Raises:
        ConfigError, Unavailable, Timeout, ClientError: as :func:`api_client` and :func:`version`.
    """
    with api_client(settings) as api:
        started = time.perf_counter()
        info = version(api)
        latency = (time.perf_counter() - started) * 1000
    return KubernetesProbe(
        endpoint=endpoint(settings),
        version=info["gitVersion"],
        platform=info["platform"],
        latency_ms=round(latency, 2),
    )


@dataclass(frozen=True)
class Rollout:
    """The current revision of one Deployment: when its ReplicaSet was created, its images,
    and the revision before it (``None`` when there is none to roll back to)."""

    deployment: str
    namespace: str
    revision: int | None
    created: datetime | None
    images: tuple[str, ...]
    previous_revision: int | None


def rollouts(settings: KubernetesSettings, namespace: str | None = None) -> list[Rollout]:
    """The latest rollout of every Deployment in ``namespace`` (default: the configured one),
    from its ReplicaSets (``deployment.kubernetes.io/revision``), newest first.

    Raises:
        ConfigError / Unavailable / Timeout / NotFound / ClientError: as :func:`api_client`.
    """
    where = namespace or settings.namespace
    by_owner: dict[str, list[tuple[int | None, datetime | None, tuple[str, ...]]]] = {}
    with api_client(settings) as api, mapped_errors(api):
        listing = k8s.AppsV1Api(api).list_namespaced_replica_set(where)
        for rs in listing.items or []:
            meta = rs.metadata
            if meta is None:
                continue
            owners = [o.name for o in meta.owner_references or [] if o.kind == "Deployment"]
            if not owners:
                continue
            raw = (meta.annotations or {}).get("deployment.kubernetes.io/revision")
            revision = int(raw) if raw and str(raw).isdigit() else None
            pod = rs.spec.template.spec if rs.spec and rs.spec.template else None
            images = tuple(str(c.image) for c in (pod.containers if pod else None) or [])
            by_owner.setdefault(owners[0], []).append((revision, meta.creation_timestamp, images))
    found: list[Rollout] = []
    for name, sets in by_owner.items():
        ordered = sorted(sets, key=lambda s: (s[0] or 0, s[1] or datetime.min.replace(tzinfo=UTC)))
        revision, created, images = ordered[-1]
        previous = ordered[-2][0] if len(ordered) > 1 else None
        found.append(Rollout(name, where, revision, created, images, previous))
    found.sort(key=lambda r: r.created or datetime.min.replace(tzinfo=UTC), reverse=True)
    return found


@contextmanager
def mapped_errors(api: TimeoutApiClient) -> Iterator[None]:
    """Map ``kubernetes``/``urllib3`` errors raised in the block to ours (scrubbed, short)."""
    try:
        yield
    except (OpenApiException, urllib3.exceptions.HTTPError, ValueError) as exc:
        raise _failure(exc, api) from None


def _secrets(api: TimeoutApiClient) -> list[str]:
    values: list[str] = []
    for value in (api.configuration.api_key or {}).values():
        values.append(str(value))
        values.append(str(value).split(" ", 1)[-1])
    return values


def _status_message(exc: ApiException) -> str:
    body = exc.body
    if body:
        try:
            parsed = json.loads(body)
        except ValueError:
            return str(body)
        if isinstance(parsed, dict) and parsed.get("message"):
            return str(parsed["message"])
    return str(exc.reason or "")


def _failure(exc: Exception, api: TimeoutApiClient) -> ClientError:
    where = str(api.configuration.host)
    secrets = _secrets(api)
    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        detail = safe(f"HTTP {status} {_status_message(exc)}", secrets)
        if status == 404:
            return failure(NotFound, BACKEND, where, f"answered {detail}", secrets)
        if status == 409:
            return failure(Conflict, BACKEND, where, f"answered {detail}", secrets)
        if status >= 500:
            return failure(Unavailable, BACKEND, where, f"unavailable: {detail}", secrets)
        if status == 403 and (hint := rbac_hint(_status_message(exc))):
            return failure(ClientError, BACKEND, where, f"forbids it (HTTP 403): {hint}", secrets)
        if status in (401, 403):
            return failure(ClientError, BACKEND, where, f"refused the request: {detail}", secrets)
        return failure(ClientError, BACKEND, where, f"rejected the request: {detail}", secrets)
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    # NewConnectionError subclasses ConnectTimeoutError in urllib3 2: test it before timeouts
    if isinstance(exc, urllib3.exceptions.NameResolutionError):
        return failure(Unavailable, BACKEND, where, "unreachable: unknown host", secrets)
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        text = str(exc).lower()
        reason = "connection refused" if "refused" in text else "cannot connect"
        return failure(Unavailable, BACKEND, where, f"unreachable: {reason}", secrets)
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        limit = api.default_timeout[1]
        return failure(Timeout, BACKEND, where, f"did not answer within {limit:g} s", secrets)
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return failure(Unavailable, BACKEND, where, f"unreachable: {exc}", secrets)
    return failure(ClientError, BACKEND, where, f"request failed: {exc}", secrets)


__all__ = [
    "BACKEND",
    "KubernetesProbe",
    "Rollout",
    "TimeoutApiClient",
    "api_client",
    "endpoint",
    "mapped_errors",
    "probe",
    "rollouts",
    "timeouts",
    "version",
]
