"""JSON object helpers of the sandbox API's store: copies, timestamps, keys, the Scale view.

Objects are plain JSON-shaped dicts (:data:`Obj`). :func:`clone` deep-copies them (the store
hands out and keeps only copies), :func:`now_rfc3339` is the API server's timestamp format,
:func:`key` is where an object lives in the store (cluster-scoped objects have namespace ``""``),
:func:`meta_of` is an object's ``metadata`` (created when missing, 400 when not an object), and
:func:`scale_of` is the ``autoscaling/v1`` Scale view of a deployment or replicaset, and
:func:`ready_condition` / :func:`pod_ready` read a pod's ``Ready`` condition.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from noa_sandbox.kube.errors import bad_request
from noa_sandbox.kube.resources import ResourceType
from noa_sandbox.kube.selectors import selector_string

Obj = dict[str, Any]
ObjList = list[Obj]
_T = TypeVar("_T")


def now_rfc3339() -> str:
    """The current time as the API server writes it (``2024-05-01T12:00:00Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def clone(value: _T) -> _T:
    """A deep copy of a JSON-shaped value."""
    return cast(_T, _clone(value))


def key(rt: ResourceType, namespace: str | None, name: str) -> tuple[str, str]:
    """The store key of an object: ``(namespace, name)``, namespace ``""`` when cluster-scoped."""
    return ((namespace or "") if rt.namespaced else "", name)


def meta_of(obj: Obj) -> dict[str, Any]:
    """``obj["metadata"]``, added when missing; 400 BadRequest when it is not an object."""
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise bad_request("metadata must be a JSON object")
    return meta


def scale_of(rt: ResourceType, obj: Obj) -> Obj:
    """The ``autoscaling/v1`` Scale view of a deployment or replicaset."""
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    scale_meta = {
        name: meta[name]
        for name in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        if name in meta
    }
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": int(spec.get("replicas") or 0)},
        "status": {
            "replicas": int(status.get("replicas") or 0),
            "selector": selector_string(spec.get("selector")),
        },
    }


def ready_condition(pod: Obj) -> Obj | None:
    """The pod's ``Ready`` condition when its status is ``True``, else ``None``."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "True":
            return cast(Obj, cond)
    return None


def pod_ready(pod: Obj) -> bool:
    """The pod's ``Ready`` condition is ``True``."""
    return ready_condition(pod) is not None


__all__ = ["Obj", "ObjList", "clone", "key", "meta_of", "now_rfc3339", "pod_ready",
           "ready_condition", "scale_of"]
