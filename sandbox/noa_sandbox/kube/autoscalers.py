"""The sandbox's HorizontalPodAutoscaler controller: status only, no autoscaling.

:func:`sync_hpa` reports the target Deployment's ``spec.replicas`` as ``currentReplicas`` and
that count clamped to ``[minReplicas, maxReplicas]`` as ``desiredReplicas``, with the
``AbleToScale``/``ScalingActive``/``ScalingLimited`` conditions a real HPA shows (transition times
kept while a condition's status holds), and for a CPU utilization target the ``currentMetrics`` the
simulated NOA Server's model gives at this hour (:func:`cpu_utilization`: the model's share of the
CPU limit as a percentage of the request, whole percent). It never scales anything itself.
"""

from __future__ import annotations

from collections.abc import Callable

from noa_sandbox.kube.hooks import Obj
from noa_sandbox.kube.kubelet import rfc3339
from noa_sandbox.kube.quantity import parse_quantity
from noa_sandbox.kube.store import Store
from noa_sandbox.simulator import catalog, model
from noa_sandbox.simulator.scenarios import Effects


def cpu_utilization(target: Obj, now: float, epoch: float) -> int | None:
    """Average CPU use of ``target``'s pods in percent of their request, from the model (``None``
    when its container is not a NOA service or requests no CPU)."""
    containers = ((target["spec"].get("template") or {}).get("spec") or {}).get(
        "containers") or []
    service = target["metadata"]["name"]
    container = next((c for c in containers if c.get("name") == service), None)
    if container is None or service not in catalog.SERVICES:
        return None
    resources = container.get("resources") or {}
    request = parse_quantity((resources.get("requests") or {}).get("cpu", 0))
    limit = parse_quantity((resources.get("limits") or {}).get("cpu", 0)) or request
    if request <= 0:
        return None
    level = float(model.load(now, epoch))
    ratio = float(model.cpu_ratio(service, level, Effects()))
    return round(ratio * limit / request * 100)


def _current_metrics(spec: Obj, target: Obj, now: float, epoch: float | None) -> list[Obj]:
    if epoch is None:
        return []
    out = []
    for metric in spec.get("metrics") or []:
        resource = metric.get("resource") or {}
        kind = (resource.get("target") or {}).get("type")
        if metric.get("type") == "Resource" and resource.get("name") == "cpu" and (
                kind == "Utilization"):
            used = cpu_utilization(target, now, epoch)
            if used is not None:
                out.append({"type": "Resource", "resource": {
                    "name": "cpu", "current": {"averageUtilization": used}}})
    return out


def sync_hpa(store: Store, hpa: Obj, clock: Callable[[], float],
             epoch: float | None = None) -> None:
    """Write ``hpa``'s status when it changed; only Deployment targets are followed.
    ``epoch`` is the simulated traffic's (the world file's): without it no ``currentMetrics``."""
    meta = hpa["metadata"]
    spec = hpa.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    if ref.get("kind") != "Deployment":
        return
    target = store.try_get("deployments", meta["namespace"], str(ref.get("name")))
    if target is None:
        return
    replicas = int(target["spec"].get("replicas", 1))
    low = int(spec.get("minReplicas") or 1)
    high = int(spec.get("maxReplicas") or replicas)
    desired = min(max(replicas, low), high)
    old = hpa.get("status") or {}
    old_conditions = {c.get("type"): c for c in old.get("conditions") or []}
    now = rfc3339(clock())

    def cond(type_: str, status: str, reason: str, message: str) -> Obj:
        prev = old_conditions.get(type_)
        when = prev.get("lastTransitionTime") if prev and prev.get(
            "status") == status else now
        return {"type": type_, "status": status, "lastTransitionTime": when,
                "reason": reason, "message": message}

    limited = replicas != desired
    status: Obj = {
        "currentReplicas": replicas,
        "desiredReplicas": desired,
        "conditions": [
            cond("AbleToScale", "True", "ReadyForNewScale",
                 "recommended size matches current size"),
            cond("ScalingActive", "True", "ValidMetricFound",
                 "the HPA was able to successfully calculate a replica count from cpu "
                 "resource utilization (percentage of request)"),
            cond("ScalingLimited", "True" if limited else "False",
                 "TooFewReplicas" if replicas < low else (
                     "TooManyReplicas" if limited else "DesiredWithinRange"),
                 "the desired replica count is outside the acceptable range" if limited
                 else "the desired count is within the acceptable range"),
        ],
    }
    current = _current_metrics(spec, target, clock(), epoch)
    if current:
        status["currentMetrics"] = current
    if old.get("lastScaleTime"):
        status["lastScaleTime"] = old["lastScaleTime"]
    if status != old:
        def write(obj: Obj) -> None:
            obj["status"] = status
        store.mutate("horizontalpodautoscalers", meta["namespace"], meta["name"], write,
                     status_only=True)


__all__ = ["cpu_utilization", "sync_hpa"]
