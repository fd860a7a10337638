"""The sandbox's HorizontalPodAutoscaler controller: status only, no autoscaling.

:func:`sync_hpa` reports the target Deployment's ``spec.replicas`` as ``currentReplicas`` and
that count clamped to ``[minReplicas, maxReplicas]`` as ``desiredReplicas``, with the
``AbleToScale``/``ScalingActive``/``ScalingLimited`` conditions a real HPA shows (transition times
kept while a condition's status holds). It never scales anything itself.
"""

from __future__ import annotations

from collections.abc import Callable

from noa_sandbox.kube.hooks import Obj
from noa_sandbox.kube.kubelet import rfc3339
from noa_sandbox.kube.store import Store


def sync_hpa(store: Store, hpa: Obj, clock: Callable[[], float]) -> None:
    """Write ``hpa``'s status when it changed; only Deployment targets are followed."""
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
    if old.get("lastScaleTime"):
        status["lastScaleTime"] = old["lastScaleTime"]
    if status != old:
        def write(obj: Obj) -> None:
            obj["status"] = status
        store.mutate("horizontalpodautoscalers", meta["namespace"], meta["name"], write,
                     status_only=True)


__all__ = ["sync_hpa"]
