"""What every controller of the sandbox cluster shares (no state of its own).

Ownership (:func:`owner_uid`, :func:`owner_ref`), pod readiness as the real controllers judge it
(:func:`pod_ready`, :func:`pod_available`: ``IsPodAvailable``), a status without its zero fields
(:func:`omit_zero`, the ``omitempty`` of the Go types), and best-effort events (:func:`emit`: a
failed event write is logged, never raised). Used by :mod:`.controller`, :mod:`.deployments`,
:mod:`.deploystatus`, :mod:`.replicasets`, :mod:`.pods` and :mod:`.jobs`.
"""

from __future__ import annotations

import logging
from typing import Any

from noa_sandbox.kube.errors import ApiError
from noa_sandbox.kube.hooks import Obj
from noa_sandbox.kube.kubelet import parse_rfc3339
from noa_sandbox.kube.objects import pod_ready, ready_condition
from noa_sandbox.kube.store import Store

log = logging.getLogger("noa.kube.controller")


def owner_uid(obj: Obj) -> str | None:
    """The uid of ``obj``'s controller (the ownerReference with ``controller: true``)."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def owner_ref(owner: Obj) -> Obj:
    """The controller ownerReference that points at ``owner``."""
    return {
        "apiVersion": owner.get("apiVersion", "apps/v1"),
        "kind": owner.get("kind", "Deployment"),
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_available(pod: Obj, min_ready_s: int, now: float) -> bool:
    """Ready for at least ``min_ready_s`` seconds (``IsPodAvailable``)."""
    cond = ready_condition(pod)
    if cond is None or min_ready_s <= 0:
        return cond is not None
    since = parse_rfc3339(cond.get("lastTransitionTime"))
    return since is not None and since + min_ready_s <= now


def omit_zero(status: dict[str, Any]) -> dict[str, Any]:
    """``status`` without its zero, null and empty-list fields."""
    return {k: v for k, v in status.items() if v not in (0, None, [])}


def emit(store: Store, obj: Obj, reason: str, message: str, type_: str = "Normal", *,
         component: str) -> None:
    """Record an event about ``obj``; a failure is logged (debug) and swallowed."""
    try:
        store.record_event(obj, reason, message, type_, component=component)
    except ApiError as exc:
        log.debug("event %s: %s", reason, exc.message)


__all__ = ["emit", "omit_zero", "owner_ref", "owner_uid", "pod_available", "pod_ready"]
