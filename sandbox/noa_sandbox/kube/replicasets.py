"""The ReplicaSet controller: a ReplicaSet's pods follow its ``spec.replicas``.

:func:`sync_replicaset` creates the missing pods (:func:`~.pods.create_pod`) or deletes the
surplus in :func:`deletion_order` (pending first, then not Ready, then the newest), with
``SuccessfulCreate``/``SuccessfulDelete`` events, and writes the status counts (``replicas``,
``fullyLabeledReplicas``, ``readyReplicas``, ``availableReplicas``, ``observedGeneration``).
"""

from __future__ import annotations

import random

from noa_sandbox.kube.controlkit import emit, omit_zero, owner_uid, pod_available, pod_ready
from noa_sandbox.kube.errors import ApiError
from noa_sandbox.kube.hooks import Obj
from noa_sandbox.kube.pods import create_pod
from noa_sandbox.kube.store import Store

COMPONENT = "replicaset-controller"


def sync_replicaset(store: Store, rng: random.Random, rs: Obj, all_pods: list[Obj],
                    now: float) -> None:
    """One sync of ReplicaSet ``rs``; ``all_pods`` (every pod) gets the pods it creates."""
    meta = rs["metadata"]
    if meta.get("deletionTimestamp"):
        return
    ns = meta["namespace"]
    pods = [p for p in all_pods if p["metadata"].get("namespace") == ns
            and owner_uid(p) == meta["uid"] and not p["metadata"].get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    wanted = int(rs["spec"].get("replicas") or 0)
    if len(pods) < wanted:
        for _ in range(wanted - len(pods)):
            pod = create_pod(store, rng, rs, all_pods)
            pods.append(pod)
            all_pods.append(pod)
            emit(store, rs, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
                 component=COMPONENT)
    elif len(pods) > wanted:
        for pod in deletion_order(pods)[: len(pods) - wanted]:
            try:
                store.delete("pods", ns, pod["metadata"]["name"])
            except ApiError:
                continue
            pods.remove(pod)
            emit(store, rs, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}",
                 component=COMPONENT)
    min_ready = int(rs["spec"].get("minReadySeconds") or 0)
    template_labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get(
        "labels") or {}
    status = omit_zero({
        "replicas": len(pods),
        "fullyLabeledReplicas": sum(
            1 for p in pods
            if all((p["metadata"].get("labels") or {}).get(k) == v
                   for k, v in template_labels.items())),
        "readyReplicas": sum(1 for p in pods if pod_ready(p)),
        "availableReplicas": sum(1 for p in pods if pod_available(p, min_ready, now)),
        "observedGeneration": meta.get("generation", 1),
    })
    status["replicas"] = len(pods)  # replicas is not omitempty
    if status != (rs.get("status") or {}):
        def write(obj: Obj) -> None:
            obj["status"] = status
        store.mutate("replicasets", ns, meta["name"], write, status_only=True)


def deletion_order(pods: list[Obj]) -> list[Obj]:
    """Pods to delete first: unscheduled/pending, then not ready, then the newest."""
    def rank(p: Obj) -> tuple[int, int, str, str]:
        phase = (p.get("status") or {}).get("phase")
        return (
            0 if phase == "Pending" else 1,
            0 if not pod_ready(p) else 1,
            # newest first: invert the creation time ordering
            "".join(chr(0x10FFFF - ord(ch)) for ch in str(
                p["metadata"].get("creationTimestamp", ""))),
            p["metadata"]["name"],
        )
    return sorted(pods, key=rank)


__all__ = ["COMPONENT", "deletion_order", "sync_replicaset"]
