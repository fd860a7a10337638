"""Making a controller's pods: what the ReplicaSet and Job controllers create.

:func:`create_pod` turns an owner's pod template into a Pod named ``<owner>-<5 chars>`` (a new
suffix on a name clash), with the owner reference, the template's labels (plus any the caller
adds) and annotations, and the spec defaults the real API server fills in. The scheduler
(:func:`schedule`) binds it to the Node with the most free requested CPU/memory that fits
(:func:`.nodes.pick_node`); when none fits the pod is created unbound and
:func:`mark_unschedulable` gives it ``PodScheduled=False`` (``Unschedulable``) — the controller
retries on every pass. A store without Node objects (API tests that seed nothing) places pods on
the least loaded of ``sandbox-node-1..3``.
"""

from __future__ import annotations

import random

from noa_sandbox.kube import nodes, rollout
from noa_sandbox.kube.controlkit import emit, owner_ref
from noa_sandbox.kube.errors import ApiError
from noa_sandbox.kube.hooks import Obj
from noa_sandbox.kube.kubelet import NODES
from noa_sandbox.kube.store import Store


def least_loaded(all_pods: list[Obj]) -> str:
    """The node with the fewest unfinished pods (ties: the first by name)."""
    load = {n: 0 for n in NODES}
    for p in all_pods:
        node = (p.get("spec") or {}).get("nodeName")
        if node in load and (p.get("status") or {}).get("phase") not in (
            "Succeeded", "Failed"
        ):
            load[node] += 1
    return min(NODES, key=lambda n: (load[n], n))


def schedule(store: Store, pod: Obj, all_pods: list[Obj]) -> str | None:
    """The node for ``pod``: from the store's Node objects (``None``: none fits), or the least
    loaded sandbox node when the store has no Node objects."""
    node_objs = store.list("nodes")[0]
    if not node_objs:
        return least_loaded(all_pods)
    return nodes.pick_node(pod, node_objs, all_pods)


def mark_unschedulable(store: Store, pod: Obj, now_text: str) -> Obj:
    """Give an unbound ``pod`` the ``PodScheduled=False/Unschedulable`` status and a
    FailedScheduling event (once: nothing is written when it already says so)."""
    meta = pod["metadata"]
    message = nodes.unschedulable_message(store.list("nodes")[0])
    status = pod.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "Unschedulable":
            return pod

    def write(obj: Obj) -> None:
        obj["status"] = {"phase": "Pending", "qosClass": status.get("qosClass", "Burstable"),
                         "conditions": [{"type": "PodScheduled", "status": "False",
                                         "reason": "Unschedulable", "message": message,
                                         "lastProbeTime": None,
                                         "lastTransitionTime": now_text}]}

    updated = store.mutate("pods", meta["namespace"], meta["name"], write, status_only=True)
    emit(store, updated, "FailedScheduling", message, "Warning", component="default-scheduler")
    return updated


def create_pod(store: Store, rng: random.Random, owner: Obj, all_pods: list[Obj], *,
               extra_labels: dict[str, str] | None = None) -> Obj:
    """Create a pod from ``owner``'s template; 409 when five name suffixes all clash."""
    meta = owner["metadata"]
    template = owner["spec"].get("template") or {}
    tmeta = template.get("metadata") or {}
    spec = dict(template.get("spec") or {})
    node = schedule(store, {"spec": spec}, all_pods)
    if node is not None:
        spec["nodeName"] = node
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("tolerations", [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
         "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
         "effect": "NoExecute", "tolerationSeconds": 300},
    ])
    labels = {**(tmeta.get("labels") or {}), **(extra_labels or {})}
    body: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"{meta['name']}-",
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [owner_ref(owner)],
        },
        "spec": spec,
    }
    if tmeta.get("annotations"):
        body["metadata"]["annotations"] = dict(tmeta["annotations"])
    for _ in range(5):
        suffix = "".join(rng.choices(rollout.ALPHABET, k=5))
        body["metadata"]["name"] = f"{meta['name']}-{suffix}"
        try:
            return store.create("pods", meta["namespace"], body)
        except ApiError as exc:
            if exc.status != 409:
                raise
    raise ApiError(409, "AlreadyExists", f"no free pod name for {meta['name']}")


__all__ = ["create_pod", "least_loaded", "mark_unschedulable", "schedule"]
