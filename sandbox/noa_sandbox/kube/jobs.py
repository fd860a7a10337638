"""The Job controller: one pod per Job, and what its outcome means for the NOA Server world.

:func:`sync_job` creates the Job's pod (with the ``job-name``/``controller-uid`` labels), counts
its pods into the status, and ends the Job ``Complete`` when the pod succeeded (a migration Job —
:func:`migration_version` — then marks its release's migrations applied in the world) or
``Failed`` (``BackoffLimitExceeded``) when it failed. Whether the pod fails is
:func:`job_fails`: the Job carries ``noa.sandbox/fail: "true"``, or runs an image of a NOA
Server release marked ``migration_fails``. Finished or suspended Jobs are left alone.
"""

from __future__ import annotations

import random

from noa_sandbox.kube import registry
from noa_sandbox.kube.controlkit import emit, omit_zero, owner_uid, pod_ready
from noa_sandbox.kube.hooks import Obj
from noa_sandbox.kube.kubelet import rfc3339
from noa_sandbox.kube.pods import create_pod
from noa_sandbox.kube.store import Store
from noa_sandbox.kube.worldsync import WorldSync
from noa_sandbox.releases import migrations_of

FAIL_ANNOTATION = "noa.sandbox/fail"
COMPONENT = "job-controller"


def job_fails(world: WorldSync, job: Obj) -> bool:
    """Whether ``job``'s pod is to fail (see the module docstring)."""
    if (job["metadata"].get("annotations") or {}).get(FAIL_ANNOTATION) == "true":
        return True
    spec = world.spec()
    for c in (((job.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers"
    ) or []:
        ref = registry.parse_image(str(c.get("image", "")))
        if ref.ours and spec.info(ref.tag).migration_fails:
            return True
    return False


def migration_version(job: Obj) -> str | None:
    """The NOA Server release whose migrations a Job runs (``None``: not a migration)."""
    containers = (((job.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers") or []
    for c in containers:
        ref = registry.parse_image(str(c.get("image", "")))
        words = " ".join([job["metadata"]["name"], *map(str, c.get("command") or []),
                          *map(str, c.get("args") or [])])
        if ref.ours and "migrat" in words.lower():
            return ref.tag
    return None


def sync_job(store: Store, world: WorldSync, rng: random.Random, job: Obj, all_pods: list[Obj],
             now: float) -> None:
    """One sync of ``job``; ``all_pods`` (every pod) gets the pod it creates."""
    meta = job["metadata"]
    ns = meta["namespace"]
    spec = job.get("spec") or {}
    status = dict(job.get("status") or {})
    conditions = list(status.get("conditions") or [])
    if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
           for c in conditions) or spec.get("suspend"):
        return
    pods = [p for p in all_pods if p["metadata"].get("namespace") == ns
            and owner_uid(p) == meta["uid"]]
    if not pods:
        labels = {"batch.kubernetes.io/controller-uid": meta["uid"],
                  "batch.kubernetes.io/job-name": meta["name"],
                  "controller-uid": meta["uid"], "job-name": meta["name"]}
        pod = create_pod(store, rng, job, all_pods, extra_labels=labels)
        all_pods.append(pod)
        pods = [pod]
        emit(store, job, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
             component=COMPONENT)
    phases = [(p.get("status") or {}).get("phase", "Pending") for p in pods]
    new = dict(status)
    new["startTime"] = status.get("startTime") or rfc3339(now)
    new["active"] = sum(1 for ph in phases if ph in ("Pending", "Running"))
    new["ready"] = sum(1 for p in pods if pod_ready(p))
    new["succeeded"] = phases.count("Succeeded")
    new["failed"] = phases.count("Failed")
    new["uncountedTerminatedPods"] = {}
    when = rfc3339(now)
    if new["succeeded"]:
        new["completionTime"] = when
        new["conditions"] = [*conditions, {
            "type": "Complete", "status": "True", "lastProbeTime": when,
            "lastTransitionTime": when}]
        version = migration_version(job)
        if version is not None:
            world.apply_migrations(migrations_of(world.spec(), version))
        emit(store, job, "Completed", "Job completed", component=COMPONENT)
    elif new["failed"]:
        new["conditions"] = [*conditions, {
            "type": "Failed", "status": "True", "lastProbeTime": when,
            "lastTransitionTime": when, "reason": "BackoffLimitExceeded",
            "message": "Job has reached the specified backoff limit"}]
        emit(store, job, "BackoffLimitExceeded", "Job has reached the specified backoff limit",
             "Warning", component=COMPONENT)
    new = omit_zero(new)
    new["uncountedTerminatedPods"] = {}
    if new != status:
        def write(obj: Obj) -> None:
            obj["status"] = new
        store.mutate("jobs", ns, meta["name"], write, status_only=True)


__all__ = ["COMPONENT", "FAIL_ANNOTATION", "job_fails", "migration_version", "sync_job"]
