"""Workload objects of the Kubernetes API as plain dicts: read, list, create, replace, patch…

Covers Deployments, ReplicaSets, Services, ConfigMaps, Secrets, Jobs, Ingresses,
HorizontalPodAutoscalers, PersistentVolumeClaims, LimitRanges and ResourceQuotas (and reads
cluster-scoped StorageClasses) through the official client (``AppsV1Api``, ``CoreV1Api``,
``BatchV1Api``, ``NetworkingV1Api``, ``AutoscalingV2Api``). Objects travel as the JSON the API
server sent (``_preload_content=False``), so ops code can diff and copy pod templates without the
client's models in the way.

- Every mutating call takes ``dry_run``: ``True`` sends ``dryRun=All`` (the server validates and
  answers with the would-be object, stores nothing — not a mutation).
- Conflicts: :func:`patch` and :func:`update` retry a ``409 Conflict`` a bounded number of times,
  each time re-reading the object so the change is re-applied on its fresh ``resourceVersion``
  (``update`` re-runs the caller's change function on the fresh copy, like ``kubectl edit``).
- Errors are mapped by :func:`noa_lib.clients.kubernetes.mapped_errors`; a ``403`` carries an RBAC
  hint (verb, resource, namespace and the Role rule that would allow it).

Patch types: ``"strategic"`` (``application/strategic-merge-patch+json``: lists merged by key, e.g.
containers by name), ``"merge"`` (RFC 7386) and ``"json"`` (RFC 6902, a list of operations).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from kubernetes import client as k8s

from noa_lib.clients.kubernetes import TimeoutApiClient, api_client, mapped_errors
from noa_lib.config import KubernetesSettings
from noa_lib.errors import ConfigError, Conflict, NotFound, ParameterError

Obj = dict[str, Any]
PatchType = Literal["strategic", "merge", "json"]

CONTENT_TYPES: Mapping[str, str] = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
}
CONFLICT_ATTEMPTS = 4


@dataclass(frozen=True)
class Kind:
    """How the official client names one resource type."""

    plural: str
    api: Callable[[TimeoutApiClient], Any]
    suffix: str  # e.g. "deployment" in read_namespaced_deployment

    def method(self, client: Any, verb: str) -> Callable[..., Any]:
        fn: Callable[..., Any] = getattr(client, f"{verb}_namespaced_{self.suffix}")
        return fn


KINDS: Mapping[str, Kind] = {
    "deployments": Kind("deployments", k8s.AppsV1Api, "deployment"),
    "replicasets": Kind("replicasets", k8s.AppsV1Api, "replica_set"),
    "services": Kind("services", k8s.CoreV1Api, "service"),
    "configmaps": Kind("configmaps", k8s.CoreV1Api, "config_map"),
    "secrets": Kind("secrets", k8s.CoreV1Api, "secret"),
    "jobs": Kind("jobs", k8s.BatchV1Api, "job"),
    "ingresses": Kind("ingresses", k8s.NetworkingV1Api, "ingress"),
    # incident/high_latency: a scale-up raises an HPA's minReplicas
    "horizontalpodautoscalers": Kind("horizontalpodautoscalers", k8s.AutoscalingV2Api,
                                     "horizontal_pod_autoscaler"),
    "persistentvolumeclaims": Kind("persistentvolumeclaims", k8s.CoreV1Api,
                                   "persistent_volume_claim"),
    "limitranges": Kind("limitranges", k8s.CoreV1Api, "limit_range"),
    "resourcequotas": Kind("resourcequotas", k8s.CoreV1Api, "resource_quota"),
}


def kind_of(plural: str) -> Kind:
    """The :class:`Kind` for ``plural``; ``ParameterError`` listing the served ones otherwise."""
    try:
        return KINDS[plural]
    except KeyError:
        raise ParameterError(
            f"unknown resource {plural!r}", name="kind", accepted=", ".join(sorted(KINDS))
        ) from None


def _settings(settings: KubernetesSettings | None) -> KubernetesSettings:
    if settings is None:
        raise ConfigError("the target has no [kubernetes] section")
    return settings


@contextmanager
def _api(settings: KubernetesSettings, plural: str) -> Iterator[tuple[TimeoutApiClient, Any]]:
    kind = kind_of(plural)
    with api_client(settings) as api, mapped_errors(api):
        yield api, kind.api(api)


def _decode(response: Any) -> Obj:
    data = response.data
    if not data:
        return {}
    decoded = json.loads(data)
    return decoded if isinstance(decoded, dict) else {"items": decoded}


def _dry(dry_run: bool) -> str | None:
    return "All" if dry_run else None


def get(settings: KubernetesSettings | None, plural: str, name: str, namespace: str | None = None
        ) -> Obj:
    """The object ``plural/name``.

    Raises:
        NotFound, Conflict, Unavailable, Timeout, ClientError: see ``clients.kubernetes``.
    """
    s = _settings(settings)
    with _api(s, plural) as (_, client):
        fn = kind_of(plural).method(client, "read")
        return _decode(fn(name, namespace or s.namespace, _preload_content=False))


def find(settings: KubernetesSettings | None, plural: str, name: str,
         namespace: str | None = None) -> Obj | None:
    """The object ``plural/name``, or ``None`` when it does not exist."""
    try:
        return get(settings, plural, name, namespace)
    except NotFound:
        return None


def storage_class(settings: KubernetesSettings | None, name: str) -> Obj:
    """The cluster-scoped StorageClass ``name``.

    Raises:
        NotFound, Unavailable, Timeout, ClientError: see ``clients.kubernetes``.
    """
    s = _settings(settings)
    with api_client(s) as api, mapped_errors(api):
        return _decode(k8s.StorageV1Api(api).read_storage_class(name, _preload_content=False))


def list_objects(settings: KubernetesSettings | None, plural: str, namespace: str | None = None,
                 *, label_selector: str | None = None) -> list[Obj]:
    """Objects of ``plural`` in the namespace, optionally filtered by a label selector."""
    s = _settings(settings)
    with _api(s, plural) as (_, client):
        fn = kind_of(plural).method(client, "list")
        kwargs: dict[str, Any] = {"_preload_content": False}
        if label_selector:
            kwargs["label_selector"] = label_selector
        listing = _decode(fn(namespace or s.namespace, **kwargs))
    items = listing.get("items") or []
    return [dict(i) for i in items]


def create(settings: KubernetesSettings | None, plural: str, obj: Obj,
           namespace: str | None = None, *, dry_run: bool = False) -> Obj:
    """Create ``obj``; returns what the server stored (or would store, with ``dry_run``)."""
    s = _settings(settings)
    with _api(s, plural) as (_, client):
        fn = kind_of(plural).method(client, "create")
        return _decode(fn(namespace or s.namespace, obj, dry_run=_dry(dry_run),
                          _preload_content=False))


def replace(settings: KubernetesSettings | None, plural: str, name: str, obj: Obj,
            namespace: str | None = None, *, dry_run: bool = False) -> Obj:
    """PUT ``obj`` (its ``metadata.resourceVersion`` guards against lost updates: 409)."""
    s = _settings(settings)
    with _api(s, plural) as (_, client):
        fn = kind_of(plural).method(client, "replace")
        return _decode(fn(name, namespace or s.namespace, obj, dry_run=_dry(dry_run),
                          _preload_content=False))


def _patch_once(s: KubernetesSettings, plural: str, name: str, body: Any, namespace: str,
                patch_type: PatchType, dry_run: bool) -> Obj:
    with _api(s, plural) as (_, client):
        fn = kind_of(plural).method(client, "patch")
        return _decode(fn(name, namespace, body, dry_run=_dry(dry_run),
                          _content_type=CONTENT_TYPES[patch_type], _preload_content=False))


def _fresh_version(body: Any, current: Obj) -> Any:
    """``body`` with any resourceVersion it carries replaced by ``current``'s."""
    version = (current.get("metadata") or {}).get("resourceVersion")
    if isinstance(body, dict) and isinstance(body.get("metadata"), dict):
        if "resourceVersion" in body["metadata"]:
            body = copy.deepcopy(body)
            body["metadata"]["resourceVersion"] = version
    if isinstance(body, list):
        body = copy.deepcopy(body)
        for op in body:
            if isinstance(op, dict) and op.get("path") == "/metadata/resourceVersion":
                op["value"] = version
    return body


def patch(settings: KubernetesSettings | None, plural: str, name: str, body: Any,
          namespace: str | None = None, *, patch_type: PatchType = "strategic",
          dry_run: bool = False, attempts: int = CONFLICT_ATTEMPTS) -> Obj:
    """Patch ``plural/name`` with ``body``; a 409 is retried on a freshly read object.

    When ``body`` pins ``metadata.resourceVersion`` (or a JSON patch tests it), each retry pins the
    fresh one. At most ``attempts`` requests are sent.

    Raises:
        Conflict: still conflicting after ``attempts`` tries (message says so).
        NotFound, Unavailable, Timeout, ClientError: as :func:`get`.
    """
    s = _settings(settings)
    where = namespace or s.namespace
    if patch_type not in CONTENT_TYPES:
        raise ParameterError(f"unknown patch type {patch_type!r}", name="patch_type",
                             accepted=", ".join(CONTENT_TYPES))
    for attempt in range(1, attempts + 1):
        try:
            return _patch_once(s, plural, name, body, where, patch_type, dry_run)
        except Conflict as exc:
            if attempt == attempts:
                raise Conflict(f"{exc} (still conflicting after {attempts} attempts)",
                               backend=exc.backend) from None
            time.sleep(0.1 * attempt)
            body = _fresh_version(body, get(s, plural, name, where))
    raise AssertionError("unreachable")  # pragma: no cover


def update(settings: KubernetesSettings | None, plural: str, name: str,
           change: Callable[[Obj], None], namespace: str | None = None, *,
           dry_run: bool = False, attempts: int = CONFLICT_ATTEMPTS) -> Obj:
    """Read ``plural/name``, apply ``change`` to a copy, PUT it with its resourceVersion.

    On ``409`` the object is read again and ``change`` re-applied to the fresh copy (bounded).

    Raises:
        Conflict: still conflicting after ``attempts`` tries.
    """
    s = _settings(settings)
    where = namespace or s.namespace
    for attempt in range(1, attempts + 1):
        current = get(s, plural, name, where)
        desired = copy.deepcopy(current)
        change(desired)
        try:
            return replace(s, plural, name, desired, where, dry_run=dry_run)
        except Conflict as exc:
            if attempt == attempts:
                raise Conflict(f"{exc} (still conflicting after {attempts} attempts)",
                               backend=exc.backend) from None
            time.sleep(0.1 * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def delete(settings: KubernetesSettings | None, plural: str, name: str,
           namespace: str | None = None, *, propagation: str = "Background",
           dry_run: bool = False, missing_ok: bool = False) -> Obj | None:
    """Delete ``plural/name`` (dependents by ``propagation``: Background, Foreground, Orphan).

    Returns the server's answer, or ``None`` when it was already gone and ``missing_ok``.
    """
    s = _settings(settings)
    try:
        with _api(s, plural) as (_, client):
            fn = kind_of(plural).method(client, "delete")
            return _decode(fn(name, namespace or s.namespace, dry_run=_dry(dry_run),
                              propagation_policy=propagation, _preload_content=False))
    except NotFound:
        if missing_ok:
            return None
        raise


def scale(settings: KubernetesSettings | None, name: str, replicas: int,
          namespace: str | None = None, *, plural: str = "deployments",
          dry_run: bool = False) -> Obj:
    """Set ``spec.replicas`` through the ``scale`` subresource; returns the ``Scale`` object."""
    if replicas < 0:
        raise ParameterError(f"replicas must be 0 or more, not {replicas}", name="replicas",
                             accepted="a whole number >= 0")
    s = _settings(settings)
    suffix = {"deployments": "deployment", "replicasets": "replica_set"}.get(plural)
    if suffix is None:
        raise ParameterError(f"{plural} cannot be scaled", name="kind",
                             accepted="deployments, replicasets")
    body = {"spec": {"replicas": replicas}}
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            with _api(s, plural) as (_, client):
                fn = getattr(client, f"patch_namespaced_{suffix}_scale")
                return _decode(fn(name, namespace or s.namespace, body, dry_run=_dry(dry_run),
                                  _content_type=CONTENT_TYPES["merge"], _preload_content=False))
        except Conflict:
            if attempt == CONFLICT_ATTEMPTS:
                raise
            time.sleep(0.1 * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = [
    "CONFLICT_ATTEMPTS",
    "CONTENT_TYPES",
    "KINDS",
    "Kind",
    "Obj",
    "PatchType",
    "create",
    "delete",
    "find",
    "get",
    "kind_of",
    "list_objects",
    "patch",
    "replace",
    "scale",
    "storage_class",
    "update",
]
