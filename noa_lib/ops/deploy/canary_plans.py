"""The canary's object and the plans of its sequence: create, one per traffic step, promote,
remove, and the abort plan — each a :class:`~noa_lib.ops.safety.Plan` whose changes a dry run
shows and whose ``perform`` :func:`~noa_lib.ops.deploy.canary.run_canary` applies.

The canary is ``<stable>-canary``: stable's template with the new image, label ``track: canary``
and selector ``{app, track: canary}``, created with 0 replicas. A step scales the canary up and
waits until it is Ready before scaling stable down, so capacity never dips.
"""

from __future__ import annotations

from noa_lib.clients import kube_apps
from noa_lib.ops.deploy.context import KubeContext
from noa_lib.ops.deploy.traffic import TrafficStep
from noa_lib.ops.deploy.waits import wait_settled
from noa_lib.ops.deploy.workload import Obj, meta, pick_container, ref, track_copy
from noa_lib.ops.safety import Change, Plan

CANARY_OF = "noa.io/canary-of"


def canary_name(stable: str) -> str:
    """The canary Deployment's name: ``api`` -> ``api-canary``."""
    return f"{stable}-canary"


def canary_object(stable: Obj, name: str, image: str, container: str) -> Obj:
    """The canary Deployment: stable's spec, the new image, ``track: canary``, 0 replicas."""
    return track_copy(stable, name=name, track="canary", image=image, container=container,
                      annotations={CANARY_OF: str(meta(stable).get("name"))}, replicas=0)


def _scale_changes(ns: str, canary: str, stable: str, before: tuple[int, int],
                   after: tuple[int, int]) -> tuple[Change, ...]:
    out = []
    if before[0] != after[0]:
        out.append(Change(ref("deployment", ns, canary), "spec.replicas", before[0], after[0]))
    if before[1] != after[1]:
        out.append(Change(ref("deployment", ns, stable), "spec.replicas", before[1], after[1]))
    return tuple(out)


def sequence_plans(kc: KubeContext, stable: str, canary: str, obj: Obj,
           container: str, image: str, n: int, split: tuple[TrafficStep, ...],
           ready_timeout_s: float) -> list[Plan]:
    """Create the canary, one plan per traffic step, promote, remove the canary."""
    body = canary_object(obj, canary, image, container)
    create = Plan(
        action=f"create canary {ref('deployment', kc.namespace, canary)} ({image}, 0 replicas)",
        target=kc.target,
        changes=(Change(ref("deployment", kc.namespace, canary), "(object)", None,
                        f"{image}, labels track=canary, selector {body['spec']['selector']}"),),
        perform=lambda: kube_apps.create(kc.settings, "deployments", body, kc.namespace),
        rollback=f"delete {ref('deployment', kc.namespace, canary)}",
    )
    plans = [create]
    before = (0, n)
    for s in split:
        plans.append(step_plan(kc, stable, canary, s, before, ready_timeout_s))
        before = (s.canary, s.stable)
    plans.append(promote_plan(kc, stable, container, obj, image, n,
                              before[1]))
    plans.append(cleanup_plan(kc, canary, before[0]))
    return plans


def step_plan(kc: KubeContext, stable: str, canary: str,
              s: TrafficStep, before: tuple[int, int], ready_timeout_s: float) -> Plan:
    """Scale the canary up (and wait until Ready), then stable down, for one traffic step."""
    def perform() -> None:
        kube_apps.scale(kc.settings, canary, s.canary, kc.namespace)
        wait_settled(kc, canary, timeout_s=ready_timeout_s)
        kube_apps.scale(kc.settings, stable, s.stable, kc.namespace)
        wait_settled(kc, stable, timeout_s=ready_timeout_s)

    return Plan(
        action=f"canary {s.label}: {s.canary} canary / {s.stable} stable replicas "
               f"(effective {s.effective:g} % of traffic)",
        target=kc.target,
        changes=_scale_changes(kc.namespace, canary, stable, before, (s.canary, s.stable)),
        perform=perform,
        rollback="abort: stable back to its replicas, canary deleted",
    )


def promote_plan(kc: KubeContext, stable: str, container: str,
                 obj: Obj, image: str, n: int, stable_now: int) -> Plan:
    """Stable takes the new image and its replicas back (a rolling update)."""
    old = str(pick_container(obj, container).get("image"))
    resource = ref("deployment", kc.namespace, stable)
    changes = [Change(resource, f"spec.template.spec.containers[{container}].image", old, image)]
    if stable_now != n:
        changes.append(Change(resource, "spec.replicas", stable_now, n))
    body = {"spec": {"replicas": n, "template": {"spec": {"containers": [
        {"name": container, "image": image}]}}},
        "metadata": {"annotations": {"kubernetes.io/change-cause":
                                     f"noa canary promoted: {container}={image}"}}}
    return Plan(
        action=f"promote: {resource} to {image} with {n} replicas",
        target=kc.target,
        changes=tuple(changes),
        perform=lambda: kube_apps.patch(kc.settings, "deployments", stable, body, kc.namespace),
        rollback=f"rollback runbook (what=deployment) undoes {resource} to {old}",
    )


def cleanup_plan(kc: KubeContext, canary: str, canary_now: int) -> Plan:
    resource = ref("deployment", kc.namespace, canary)
    return Plan(
        action=f"remove the canary {resource}",
        target=kc.target,
        changes=(Change(resource, "(object)", f"{canary_now} replicas", None),),
        perform=lambda: kube_apps.delete(kc.settings, "deployments", canary, kc.namespace,
                                         missing_ok=True),
        rollback="none needed: stable carries all traffic",
    )


def abort_plan(kc: KubeContext, stable: str, canary: str, n: int,
               now: tuple[int, int], ready_timeout_s: float) -> Plan:
    """All traffic back to stable: stable to ``n`` replicas (Ready), then the canary deleted."""
    changes = []
    if now[1] != n:
        changes.append(Change(ref("deployment", kc.namespace, stable), "spec.replicas", now[1], n))
    changes.append(Change(ref("deployment", kc.namespace, canary), "(object)",
                          f"{now[0]} replicas", None))

    def perform() -> None:
        kube_apps.scale(kc.settings, stable, n, kc.namespace)
        try:
            wait_settled(kc, stable, timeout_s=ready_timeout_s)
        finally:
            kube_apps.delete(kc.settings, "deployments", canary, kc.namespace, missing_ok=True)

    back_to = ref("deployment", kc.namespace, stable)
    return Plan(action=f"abort the canary: all traffic back to {back_to}",
                target=kc.target, changes=tuple(changes), perform=perform,
                rollback="re-run the canary once the cause is fixed")


__all__ = [
    "CANARY_OF",
    "abort_plan",
    "canary_name",
    "canary_object",
    "cleanup_plan",
    "promote_plan",
    "sequence_plans",
    "step_plan",
]
