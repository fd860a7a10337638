"""Scenario ``oom``: the worker Deployment's memory limit patched below what the worker needs.

``create`` lowers the memory limit of the ``worker`` container of Deployment ``noa/worker``
through the sandbox's Kubernetes API (a strategic merge patch, as ``kubectl set resources``
sends; the request is lowered too when it would exceed the new limit), so the controller rolls
out pods with :data:`SMALL_LIMIT` and the simulator and the sandbox kubelet OOM-kill them again
and again (:func:`noa_sandbox.simulator.memory.undersized`). ``remove`` puts back the limit and
request it found — only while the Deployment still has the limit this cause set: a mitigation
that raised it (or rolled back) is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from noa_lib.clients import kube_apps
from noa_sandbox.causes import Cause, kubeapi, register
from noa_sandbox.kube.quantity import parse_quantity
from noa_sandbox.layout import Layout

DEPLOYMENT = "worker"
SMALL_LIMIT = "1Gi"
"""Below what a worker needs (``memory.peak_need("worker")`` ≈ 1.38 GiB)."""


def _resources(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    main = next((c for c in containers if c.get("name") == DEPLOYMENT), containers[0])
    return dict(main.get("resources") or {})


def _patch(limit: str | None, request: str | None) -> dict[str, Any]:
    resources: dict[str, Any] = {"limits": {"memory": limit}}
    if request is not None:
        resources["requests"] = {"memory": request}
    return {"spec": {"template": {"spec": {"containers": [
        {"name": DEPLOYMENT, "resources": resources}]}}}}


def create(layout: Layout) -> dict[str, Any]:
    """Lower the worker's memory limit; returns the limit/request before and after."""
    settings = kubeapi.settings(layout)
    current = kube_apps.get(settings, "deployments", DEPLOYMENT, kubeapi.NAMESPACE)
    resources = _resources(current)
    limit = (resources.get("limits") or {}).get("memory")
    request = (resources.get("requests") or {}).get("memory")
    new_request = None
    if request is not None and parse_quantity(request) > parse_quantity(SMALL_LIMIT):
        new_request = SMALL_LIMIT
    kube_apps.patch(settings, "deployments", DEPLOYMENT, _patch(SMALL_LIMIT, new_request),
                    kubeapi.NAMESPACE)
    return {"deployment": f"{kubeapi.NAMESPACE}/{DEPLOYMENT}", "limit_before": limit,
            "request_before": request, "limit_set": SMALL_LIMIT, "request_set": new_request}


def remove(layout: Layout, made: Mapping[str, Any]) -> None:
    """Restore the limit (and request) found, if the limit is still the one set here."""
    if not made.get("limit_set"):
        return
    settings = kubeapi.settings(layout)
    current = kube_apps.find(settings, "deployments", DEPLOYMENT, kubeapi.NAMESPACE)
    if current is None:
        return
    limit = (_resources(current).get("limits") or {}).get("memory")
    if limit != made["limit_set"]:
        return  # changed since (a mitigation raised it): not ours any more
    request = made.get("request_before") if made.get("request_set") else None
    kube_apps.patch(settings, "deployments", DEPLOYMENT,
                    _patch(made.get("limit_before"), request), kubeapi.NAMESPACE)


register(Cause("oom", "the worker Deployment's memory limit lowered below its need",
               create, remove))

__all__ = ["DEPLOYMENT", "SMALL_LIMIT", "create", "remove"]
