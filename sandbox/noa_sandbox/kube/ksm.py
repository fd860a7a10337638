"""A kube-state-metrics stand-in: the objects of the sandbox API rendered as kube-state-metrics v2
publishes them (names, label sets, values), for Prometheus job ``kube-state-metrics``.

:func:`render` is pure: store objects by plural -> ``prometheus_client`` metric families
(pods in :mod:`.ksmpods`; deployments, replicasets, HPAs, nodes, PVCs, jobs and cronjobs here).
``kube_*_labels`` carry every Kubernetes label as ``label_<sanitised key>`` (as with
``--metric-labels-allowlist=*=[*]``). :func:`serve` exposes a store's objects on ``/metrics``
without authentication (a second port of the API process, like the real exporter's Service).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from noa_sandbox.kube import cron
from noa_sandbox.kube.hooks import Obj
from noa_sandbox.kube.ksmkit import Families, bool_statuses, label_labels, owner, timestamp
from noa_sandbox.kube.ksmpods import render_pod
from noa_sandbox.kube.quantity import parse_quantity
from noa_sandbox.kube.store import Store

PLURALS = ("pods", "deployments", "replicasets", "horizontalpodautoscalers", "nodes",
           "persistentvolumeclaims", "jobs", "cronjobs")
"""The kinds rendered (store plurals)."""
_NODE_UNITS = {"cpu": "core", "pods": "integer"}


def render(objects: Mapping[str, Sequence[Obj]], now: float) -> list[Metric]:
    """The kube-state-metrics families for ``objects`` (plural -> objects) at unix time ``now``
    (for ``kube_cronjob_next_schedule_time``)."""
    out = Families()
    for pod in objects.get("pods", ()):
        render_pod(out, pod)
    for deploy in objects.get("deployments", ()):
        _deployment(out, deploy)
    for rs in objects.get("replicasets", ()):
        _replicaset(out, rs)
    for hpa in objects.get("horizontalpodautoscalers", ()):
        _hpa(out, hpa)
    for node in objects.get("nodes", ()):
        _node(out, node)
    for pvc in objects.get("persistentvolumeclaims", ()):
        _pvc(out, pvc)
    for job in objects.get("jobs", ()):
        _job(out, job)
    for cronjob in objects.get("cronjobs", ()):
        _cronjob(out, cronjob, now)
    return out.collected()


def _ns(obj: Obj, key: str) -> dict[str, str]:
    return {"namespace": str(obj["metadata"].get("namespace", "")), key: obj["metadata"]["name"]}


def _created(out: Families, family: str, labels: dict[str, str], obj: Obj) -> None:
    created = timestamp(obj["metadata"].get("creationTimestamp"))
    if created is not None:
        out.add(family, "Unix creation timestamp.", labels, created)


def _int_or_percent(value: Any, total: int, *, round_up: bool) -> int:
    """An intstr (``1`` or ``"25%"``) against ``total`` replicas, rounded as Kubernetes does."""
    if isinstance(value, str) and value.endswith("%"):
        share = float(value[:-1]) / 100.0 * total
        return math.ceil(share) if round_up else math.floor(share)
    return int(value or 0)


def _deployment(out: Families, obj: Obj) -> None:
    labels = _ns(obj, "deployment")
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    replicas = int(spec.get("replicas", 1))
    out.add("kube_deployment_spec_replicas", "Number of desired pods for a deployment.", labels,
            replicas)
    for field, family in (("replicas", "status_replicas"),
                          ("availableReplicas", "status_replicas_available"),
                          ("unavailableReplicas", "status_replicas_unavailable"),
                          ("updatedReplicas", "status_replicas_updated"),
                          ("readyReplicas", "status_replicas_ready"),
                          ("observedGeneration", "status_observed_generation")):
        out.add(f"kube_deployment_{family}", f"The deployment's status {field}.", labels,
                int(status.get(field) or 0))
    out.add("kube_deployment_metadata_generation", "Sequence number representing a specific "
            "generation of the desired state.", labels, int(obj["metadata"].get("generation", 0)))
    out.add("kube_deployment_spec_paused", "Whether the deployment is paused.", labels,
            1 if spec.get("paused") else 0)
    for cond in status.get("conditions") or []:
        for value_name, value in bool_statuses(cond.get("status")):
            out.add("kube_deployment_status_condition", "The current status conditions of a "
                    "deployment.", {**labels, "reason": str(cond.get("reason") or ""),
                                    "condition": str(cond.get("type")), "status": value_name},
                    value)
    _created(out, "kube_deployment_created", labels, obj)
    out.add("kube_deployment_labels", "Kubernetes labels converted to Prometheus labels.",
            {**labels, **label_labels(obj["metadata"].get("labels"))}, 1)
    rolling = (spec.get("strategy") or {}).get("rollingUpdate")
    if rolling is not None:
        out.add("kube_deployment_spec_strategy_rollingupdate_max_surge", "Maximum number of "
                "replicas that can be scheduled above the desired number of replicas during a "
                "rolling update of a deployment.", labels,
                _int_or_percent(rolling.get("maxSurge", "25%"), replicas, round_up=True))
        out.add("kube_deployment_spec_strategy_rollingupdate_max_unavailable", "Maximum number "
                "of unavailable replicas during a rolling update of a deployment.", labels,
                _int_or_percent(rolling.get("maxUnavailable", "25%"), replicas,
                                round_up=False))


def _replicaset(out: Families, obj: Obj) -> None:
    labels = _ns(obj, "replicaset")
    kind, name, is_controller = owner(obj)
    out.add("kube_replicaset_owner", "Information about the ReplicaSet's owner.", {
        **labels, "owner_kind": kind, "owner_name": name, "owner_is_controller": is_controller},
        1)
    out.add("kube_replicaset_spec_replicas", "Number of desired pods for a ReplicaSet.", labels,
            int((obj.get("spec") or {}).get("replicas", 1)))
    status = obj.get("status") or {}
    out.add("kube_replicaset_status_replicas", "The number of replicas per ReplicaSet.", labels,
            int(status.get("replicas") or 0))
    out.add("kube_replicaset_status_ready_replicas", "The number of ready replicas per "
            "ReplicaSet.", labels, int(status.get("readyReplicas") or 0))
    _created(out, "kube_replicaset_created", labels, obj)


_TARGET_TYPES = (("averageUtilization", "utilization"), ("averageValue", "average"),
                 ("value", "value"))


def _metric_targets(metric: Obj, key: str) -> Iterator[tuple[str, str, float]]:
    """``(metric_name, metric_target_type, value)`` of an HPA metric spec/status entry."""
    kind = str(metric.get("type", ""))
    source = metric.get(kind[:1].lower() + kind[1:]) or {}
    name = str(source.get("name") or (source.get("metric") or {}).get("name") or "")
    values = source.get(key) or {}
    for field, target_type in _TARGET_TYPES:
        if field in values:
            raw = values[field]
            yield name, target_type, float(raw) if isinstance(raw, int | float) else (
                parse_quantity(raw))


def _hpa(out: Families, obj: Obj) -> None:
    labels = _ns(obj, "horizontalpodautoscaler")
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    out.add("kube_horizontalpodautoscaler_info", "Information about this autoscaler.", {
        **labels, "scaletargetref_api_version": str(ref.get("apiVersion", "")),
        "scaletargetref_kind": str(ref.get("kind", "")),
        "scaletargetref_name": str(ref.get("name", ""))}, 1)
    out.add("kube_horizontalpodautoscaler_metadata_generation", "The generation observed by the "
            "HorizontalPodAutoscaler controller.", labels,
            int(obj["metadata"].get("generation", 0)))
    out.add("kube_horizontalpodautoscaler_spec_min_replicas", "Lower limit for the number of "
            "pods that can be set by the autoscaler, default 1.", labels,
            int(spec.get("minReplicas", 1)))
    out.add("kube_horizontalpodautoscaler_spec_max_replicas", "Upper limit for the number of "
            "pods that can be set by the autoscaler; cannot be smaller than MinReplicas.",
            labels, int(spec.get("maxReplicas", 0)))
    for metric in spec.get("metrics") or []:
        for name, target_type, value in _metric_targets(metric, "target"):
            out.add("kube_horizontalpodautoscaler_spec_target_metric", "The metric "
                    "specifications used by this autoscaler when calculating the desired "
                    "replica count.", {**labels, "metric_name": name,
                                       "metric_target_type": target_type}, value)
    for metric in status.get("currentMetrics") or []:
        for name, target_type, value in _metric_targets(metric, "current"):
            out.add("kube_horizontalpodautoscaler_status_target_metric", "The current metric "
                    "status used by this autoscaler when calculating the desired replica count.",
                    {**labels, "metric_name": name, "metric_target_type": target_type}, value)
    out.add("kube_horizontalpodautoscaler_status_current_replicas", "Current number of replicas "
            "of pods managed by this autoscaler.", labels, int(status.get("currentReplicas")
                                                               or 0))
    out.add("kube_horizontalpodautoscaler_status_desired_replicas", "Desired number of replicas "
            "of pods managed by this autoscaler.", labels, int(status.get("desiredReplicas")
                                                               or 0))
    for cond in status.get("conditions") or []:
        for value_name, value in bool_statuses(cond.get("status")):
            out.add("kube_horizontalpodautoscaler_status_condition", "The condition of this "
                    "autoscaler.", {**labels, "condition": str(cond.get("type")),
                                    "status": value_name}, value)


def _node(out: Families, obj: Obj) -> None:
    name = obj["metadata"]["name"]
    labels = {"node": name}
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    info = status.get("nodeInfo") or {}
    internal = next((a.get("address") for a in status.get("addresses") or []
                     if a.get("type") == "InternalIP"), "")
    out.add("kube_node_info", "Information about a cluster node.", {
        **labels, "kernel_version": str(info.get("kernelVersion", "")),
        "os_image": str(info.get("osImage", "")),
        "container_runtime_version": str(info.get("containerRuntimeVersion", "")),
        "kubelet_version": str(info.get("kubeletVersion", "")),
        "kubeproxy_version": str(info.get("kubeProxyVersion", "")),
        "provider_id": str(spec.get("providerID", "")), "pod_cidr": str(spec.get("podCIDR", "")),
        "system_uuid": str(info.get("systemUUID", "")), "internal_ip": str(internal)}, 1)
    out.add("kube_node_labels", "Kubernetes labels converted to Prometheus labels.",
            {**labels, **label_labels(obj["metadata"].get("labels"))}, 1)
    out.add("kube_node_spec_unschedulable", "Whether a node can schedule new pods.", labels,
            1 if spec.get("unschedulable") else 0)
    _created(out, "kube_node_created", labels, obj)
    for field, family, text in (("capacity", "kube_node_status_capacity", "The capacity for "
                                 "different resources of a node."),
                                ("allocatable", "kube_node_status_allocatable", "The allocatable "
                                 "for different resources of a node that are available for "
                                 "scheduling.")):
        for resource, quantity in sorted((status.get(field) or {}).items()):
            out.add(family, text, {**labels, "resource": resource.replace("-", "_"),
                                   "unit": _NODE_UNITS.get(resource, "byte")},
                    parse_quantity(quantity))
    for cond in status.get("conditions") or []:
        for value_name, value in bool_statuses(cond.get("status")):
            out.add("kube_node_status_condition", "The condition of a cluster node.", {
                **labels, "condition": str(cond.get("type")), "status": value_name}, value)


def _pvc(out: Families, obj: Obj) -> None:
    labels = _ns(obj, "persistentvolumeclaim")
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    out.add("kube_persistentvolumeclaim_info", "Information about persistent volume claim.", {
        **labels, "storageclass": str(spec.get("storageClassName") or ""),
        "volumename": str(spec.get("volumeName") or ""),
        "volumemode": str(spec.get("volumeMode") or "Filesystem")}, 1)
    out.add("kube_persistentvolumeclaim_labels", "Kubernetes labels converted to Prometheus "
            "labels.", {**labels, **label_labels(obj["metadata"].get("labels"))}, 1)
    request = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    if request is not None:
        out.add("kube_persistentvolumeclaim_resource_requests_storage_bytes", "The capacity of "
                "storage requested by the persistent volume claim.", labels,
                parse_quantity(request))
    phase = status.get("phase") or "Pending"
    for p in ("Lost", "Bound", "Pending"):
        out.add("kube_persistentvolumeclaim_status_phase", "The phase the persistent volume "
                "claim is currently in.", {**labels, "phase": p}, 1 if p == phase else 0)
    for mode in spec.get("accessModes") or []:
        out.add("kube_persistentvolumeclaim_access_mode", "The access mode(s) specified by the "
                "persistent volume claim.", {**labels, "access_mode": str(mode)}, 1)
    _created(out, "kube_persistentvolumeclaim_created", labels, obj)


def _job(out: Families, obj: Obj) -> None:
    labels = _ns(obj, "job_name")
    status = obj.get("status") or {}
    kind, name, is_controller = owner(obj)
    out.add("kube_job_owner", "Information about the Job's owner.", {
        **labels, "owner_kind": kind, "owner_name": name, "owner_is_controller": is_controller},
        1)
    out.add("kube_job_status_succeeded", "The number of pods which reached Phase Succeeded.",
            labels, int(status.get("succeeded") or 0))
    out.add("kube_job_status_active", "The number of actively running pods.", labels,
            int(status.get("active") or 0))
    failed = [c for c in status.get("conditions") or []
              if c.get("type") == "Failed" and c.get("status") == "True"]
    reason = str(failed[0].get("reason") or "") if failed else ""
    out.add("kube_job_status_failed", "The number of pods which reached Phase Failed and the "
            "reason for failure.", {**labels, "reason": reason}, int(status.get("failed") or 0))
    started = timestamp(status.get("startTime"))
    if started is not None:
        out.add("kube_job_status_start_time", "StartTime represents time when the job was "
                "acknowledged by the Job Manager.", labels, started)
    _created(out, "kube_job_created", labels, obj)


def _cronjob(out: Families, obj: Obj, now: float) -> None:
    labels = _ns(obj, "cronjob")
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    schedule = str(spec.get("schedule", ""))
    out.add("kube_cronjob_info", "Info about cronjob.", {
        **labels, "schedule": schedule,
        "concurrency_policy": str(spec.get("concurrencyPolicy") or "Allow"),
        "timezone": str(spec.get("timeZone") or "local")}, 1)
    out.add("kube_cronjob_spec_suspend", "Suspend flag tells the controller to suspend "
            "subsequent executions.", labels, 1 if spec.get("suspend") else 0)
    out.add("kube_cronjob_status_active", "Active holds pointers to currently running jobs.",
            labels, len(status.get("active") or []))
    last = timestamp(status.get("lastScheduleTime"))
    if last is not None:
        out.add("kube_cronjob_status_last_schedule_time", "LastScheduleTime keeps information "
                "of when was the last time the job was successfully scheduled.", labels, last)
    try:
        upcoming = cron.next_fire(schedule, max(now, last or 0.0))
    except ValueError:
        upcoming = None
    if upcoming is not None:
        out.add("kube_cronjob_next_schedule_time", "Next time the cronjob should be scheduled.",
                labels, upcoming)
    _created(out, "kube_cronjob_created", labels, obj)


class StoreCollector(Collector):
    """Renders the store's objects on every scrape."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        objects = {plural: self._store.list(plural)[0] for plural in PLURALS}
        yield from render(objects, time.time())


def serve(store: Store, host: str, port: int) -> tuple[Any, threading.Thread]:
    """Serve the store's kube-state-metrics on ``http://host:port/metrics`` (no auth); returns
    the server and its thread (``server.shutdown()`` stops it)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store))
    return start_http_server(port, addr=host, registry=registry)


__all__ = ["PLURALS", "StoreCollector", "render", "serve"]
