"""kube-state-metrics' pod families (``kube_pod_*``) from Pod objects, as v2 names and labels
them (see :mod:`.ksm`)."""

from __future__ import annotations

from noa_sandbox.kube.hooks import Obj
from noa_sandbox.kube.ksmkit import Families, bool_statuses, label_labels, owner, timestamp
from noa_sandbox.kube.quantity import parse_quantity

PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
_UNITS = {"cpu": "core", "memory": "byte", "ephemeral-storage": "byte", "storage": "byte"}


def render_pod(out: Families, pod: Obj) -> None:
    """Every ``kube_pod_*`` series of one pod."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    base = {"namespace": meta.get("namespace", ""), "pod": meta["name"],
            "uid": str(meta.get("uid", ""))}
    node = str(spec.get("nodeName") or "")
    kind, name, is_controller = owner(pod)
    out.add("kube_pod_info", "Information about pod.", {
        **base, "host_ip": str(status.get("hostIP") or ""), "pod_ip": str(status.get("podIP")
                                                                           or ""),
        "node": node, "created_by_kind": kind, "created_by_name": name,
        "priority_class": str(spec.get("priorityClassName") or ""),
        "host_network": str(bool(spec.get("hostNetwork"))).lower()}, 1)
    out.add("kube_pod_owner", "Information about the Pod's owner.", {
        **base, "owner_kind": kind, "owner_name": name, "owner_is_controller": is_controller}, 1)
    out.add("kube_pod_labels", "Kubernetes labels converted to Prometheus labels.",
            {**base, **label_labels(meta.get("labels"))}, 1)
    created = timestamp(meta.get("creationTimestamp"))
    if created is not None:
        out.add("kube_pod_created", "Unix creation timestamp.", base, created)
    started = timestamp(status.get("startTime"))
    if started is not None:
        out.add("kube_pod_start_time", "Start time in unix timestamp for a pod.", base, started)
    phase = status.get("phase") or "Pending"
    for p in PHASES:
        out.add("kube_pod_status_phase", "The pods current phase.", {**base, "phase": p},
                1 if p == phase else 0)
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    for cond_type, family, text in (
        ("Ready", "kube_pod_status_ready", "Describes whether the pod is ready to serve "
         "requests."),
        ("PodScheduled", "kube_pod_status_scheduled", "Describes the status of the scheduling "
         "process for the pod."),
    ):
        if cond_type in conditions:
            for cond, value in bool_statuses(conditions[cond_type].get("status")):
                out.add(family, text, {**base, "condition": cond}, value)
    sched = conditions.get("PodScheduled") or {}
    if sched.get("status") == "False" and sched.get("reason") == "Unschedulable":
        out.add("kube_pod_status_unschedulable", "Describes the unschedulable status for the "
                "pod.", base, 1)
    for volume in spec.get("volumes") or []:
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim:
            out.add("kube_pod_spec_volumes_persistentvolumeclaims_info",
                    "Information about persistentvolumeclaim volumes in a pod.",
                    {**base, "volume": str(volume.get("name")), "persistentvolumeclaim": claim,
                     "ephemeral": "false"}, 1)
    _containers(out, base, node, spec, status)


def _containers(out: Families, base: dict[str, str], node: str, spec: Obj, status: Obj) -> None:
    statuses = {c.get("name"): c for c in status.get("containerStatuses") or []}
    for c in spec.get("containers") or []:
        cname = str(c.get("name"))
        labels = {**base, "container": cname}
        resources = c.get("resources") or {}
        for kind, family in (("requests", "kube_pod_container_resource_requests"),
                             ("limits", "kube_pod_container_resource_limits")):
            for resource, quantity in sorted((resources.get(kind) or {}).items()):
                out.add(family, f"The number of requested {kind} resource by a container.", {
                    **labels, "node": node, "resource": resource.replace("-", "_"),
                    "unit": _UNITS.get(resource, "integer")}, parse_quantity(quantity))
        cs = statuses.get(cname)
        if cs is None:
            continue
        out.add("kube_pod_container_info", "Information about a container in a pod.", {
            **labels, "image": _image(c, cs), "image_spec": str(c.get("image", "")),
            "image_id": str(cs.get("imageID") or ""),
            "container_id": str(cs.get("containerID") or "")}, 1)
        state = cs.get("state") or {}
        for which in ("waiting", "running", "terminated"):
            out.add(f"kube_pod_container_status_{which}",
                    f"Describes whether the container is currently in {which} state.",
                    labels, 1 if which in state else 0)
        out.add("kube_pod_container_status_ready", "Describes whether the containers readiness "
                "check succeeded.", labels, 1 if cs.get("ready") else 0)
        waiting = state.get("waiting")
        if waiting and waiting.get("reason"):
            out.add("kube_pod_container_status_waiting_reason", "Describes the reason the "
                    "container is currently in waiting state.",
                    {**labels, "reason": str(waiting["reason"])}, 1)
        terminated = state.get("terminated")
        if terminated and terminated.get("reason"):
            out.add("kube_pod_container_status_terminated_reason", "Describes the reason the "
                    "container is currently in terminated state.",
                    {**labels, "reason": str(terminated["reason"])}, 1)
        out.add("kube_pod_container_status_restarts_total", "The number of container restarts "
                "per container.", labels, int(cs.get("restartCount") or 0), counter=True)
        last = (cs.get("lastState") or {}).get("terminated")
        if last:
            out.add("kube_pod_container_status_last_terminated_reason", "Describes the last "
                    "reason the container was in terminated state.",
                    {**labels, "reason": str(last.get("reason") or "")}, 1)
            out.add("kube_pod_container_status_last_terminated_exitcode", "Describes the exit "
                    "code for the last container in terminated state.", labels,
                    int(last.get("exitCode") or 0))
            finished = timestamp(last.get("finishedAt"))
            if finished is not None:
                out.add("kube_pod_container_status_last_terminated_timestamp", "Last terminated "
                        "time for a pod container in unix timestamp.", labels, finished)


def _image(container: Obj, cs: Obj) -> str:
    return str(cs.get("image") or container.get("image") or "")


__all__ = ["PHASES", "render_pod"]
