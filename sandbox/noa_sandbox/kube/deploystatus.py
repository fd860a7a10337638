"""A Deployment's status, as ``pkg/controller/deployment`` writes it (``syncRolloutStatus``).

:func:`update_status` counts the pods of the Deployment's ReplicaSets (``replicas``,
``updatedReplicas``, ``readyReplicas``, ``availableReplicas``, ``unavailableReplicas``) and sets
the ``Available`` condition (``MinimumReplicasAvailable`` or not) and the ``Progressing`` one
(``NewReplicaSetAvailable`` once complete, ``ReplicaSetUpdated`` while pods progress,
``ProgressDeadlineExceeded`` after ``progressDeadlineSeconds`` without progress; untouched while
paused). :func:`set_condition` and :func:`condition` are shared with :mod:`.deployments`.
"""

from __future__ import annotations

from noa_sandbox.kube import rollout
from noa_sandbox.kube.controlkit import omit_zero
from noa_sandbox.kube.hooks import Obj
from noa_sandbox.kube.kubelet import parse_rfc3339, rfc3339
from noa_sandbox.kube.rollout import RSView, Strategy
from noa_sandbox.kube.store import Store


def set_condition(conditions: list[Obj], cond: Obj) -> list[Obj]:
    """``SetDeploymentCondition``: same status and reason -> unchanged; same status keeps the
    transition time; the new condition goes last."""
    current = next((c for c in conditions if c.get("type") == cond["type"]), None)
    if current is not None and current.get("status") == cond["status"] and current.get(
        "reason"
    ) == cond.get("reason"):
        return conditions
    if current is not None and current.get("status") == cond["status"]:
        cond["lastTransitionTime"] = current.get("lastTransitionTime")
    return [c for c in conditions if c.get("type") != cond["type"]] + [cond]


def condition(type_: str, status: str, reason: str, message: str, now: float) -> Obj:
    """A fresh condition, updated and transitioned ``now``."""
    when = rfc3339(now)
    return {"type": type_, "status": status, "lastUpdateTime": when,
            "lastTransitionTime": when, "reason": reason, "message": message}


def update_status(store: Store, d: Obj, new: Obj | None, olds: list[Obj],
                  views: dict[str, RSView], conditions: list[Obj], strategy: Strategy,
                  replicas: int, paused: bool, now: float) -> None:
    """Write ``d``'s status (counts and conditions) when it changed."""
    all_rs = ([new] if new is not None else []) + olds
    names = [rs["metadata"]["name"] for rs in all_rs]
    total_pods = sum(views[n].pods for n in names if n in views)
    updated = views[new["metadata"]["name"]].pods if new is not None else 0
    ready = sum(views[n].ready for n in names if n in views)
    available = sum(views[n].available for n in names if n in views)
    spec_total = sum(views[n].replicas for n in names if n in views)
    old_status = d.get("status") or {}
    counts = {
        "replicas": total_pods,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "unavailableReplicas": max(spec_total - available, 0),
    }
    minimum = rollout.min_available(replicas, strategy)
    if available >= minimum:
        conditions = set_condition(conditions, condition(
            "Available", "True", "MinimumReplicasAvailable",
            "Deployment has minimum availability.", now))
    else:
        conditions = set_condition(conditions, condition(
            "Available", "False", "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.", now))
    deadline = d["spec"].get("progressDeadlineSeconds")
    current = next((c for c in conditions if c.get("type") == "Progressing"), None)
    complete_already = (total_pods == updated and current is not None
                        and current.get("reason") == "NewReplicaSetAvailable")
    if deadline is not None and not paused and not complete_already:
        rs_name = new["metadata"]["name"] if new is not None else d["metadata"]["name"]
        if rollout.deployment_complete(replicas, updated, total_pods, available):
            conditions = set_condition(conditions, condition(
                "Progressing", "True", "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.', now))
        elif progressed(old_status, counts):
            cond = condition("Progressing", "True", "ReplicaSetUpdated",
                             f'ReplicaSet "{rs_name}" is progressing.', now)
            if current is not None and current.get("status") == "True":
                cond["lastTransitionTime"] = current.get("lastTransitionTime")
            conditions = [c for c in conditions if c.get("type") != "Progressing"] + [cond]
        elif current is not None and current.get("reason") != "NewReplicaSetAvailable":
            since = parse_rfc3339(current.get("lastUpdateTime"))
            if current.get("reason") != "ProgressDeadlineExceeded" and since is not None \
                    and since + int(deadline) < now:
                conditions = set_condition(conditions, condition(
                    "Progressing", "False", "ProgressDeadlineExceeded",
                    f'ReplicaSet "{rs_name}" has timed out progressing.', now))
    status = omit_zero({
        "observedGeneration": d["metadata"].get("generation", 1),
        **counts,
        "conditions": conditions,
        "collisionCount": old_status.get("collisionCount"),
    })
    if status != old_status:
        meta = d["metadata"]

        def write(obj: Obj) -> None:
            obj["status"] = status
        store.mutate("deployments", meta["namespace"], meta["name"], write, status_only=True)


def progressed(old: Obj, new: dict[str, int]) -> bool:
    """``DeploymentProgressing``: more updated/ready/available pods, or fewer old ones."""
    old_old = int(old.get("replicas") or 0) - int(old.get("updatedReplicas") or 0)
    new_old = new["replicas"] - new["updatedReplicas"]
    return (
        new["updatedReplicas"] > int(old.get("updatedReplicas") or 0)
        or new_old < old_old
        or new["readyReplicas"] > int(old.get("readyReplicas") or 0)
        or new["availableReplicas"] > int(old.get("availableReplicas") or 0)
    )


__all__ = ["condition", "progressed", "set_condition", "update_status"]
