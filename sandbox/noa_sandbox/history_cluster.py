"""The cluster's series in the backfilled history: kube-state-metrics, cAdvisor, kubelet volume
stats and node-exporter, with the job, instance and target labels of the live scrape.

Pods are named like Kubernetes (``api-<pod-template-hash>-<5 chars>``), a new set per release era
(:data:`noa_sandbox.history.DEPLOYMENTS`), replicas as seeded, spread over the three nodes; CPU
and memory follow :mod:`noa_sandbox.simulator.model` (cores = ratio × CPU limit, working set =
share × memory limit). During the past error-rate spike an api pod's container was restarted by
its liveness probe (``Error``, exit 1). Node allocatable and PVC capacity are constant, volume
usage grows.

The set is reduced to what a dashboard, check or capacity review reads (see
:func:`generate_cluster`): ``kube_pod_info``, container CPU and working set for the pods of every
era; restarts, requests, limits, owner, labels, phase, readiness, volumes and ReplicaSets for the
pods of the current era and of the era :data:`REVIEW_DAYS` days ago; the other ``kube_pod_*``
families for the current era's pods; families outside
:data:`FULL_SPAN` for the last :data:`RECENT_DAYS` days only; the node root cgroup of cAdvisor
but no pod-level cgroups; node-exporter CPU for mode ``idle`` only (busy = 1 − idle); gauges
every :data:`GAUGE_EVERY`-th step; Jobs of the weekly CronJob (the daily ones' Jobs are not
backfilled).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from noa_sandbox.history_series import Array, Series, Timeline
from noa_sandbox.kube import cron
from noa_sandbox.kube.nodes import ALLOCATABLE, CAPACITY
from noa_sandbox.kube.quantity import parse_quantity
from noa_sandbox.kube.rollout import ALPHABET
from noa_sandbox.kube.seed import PVCS, REPLICAS
from noa_sandbox.prometheus import (
    KSM_INSTANCE,
    KSM_JOB,
    kubelet_labels,
    node_exporter_labels,
)
from noa_sandbox.simulator import catalog, model
from noa_sandbox.simulator.families import Family
from noa_sandbox.simulator.infra import CPU_MODES, SYSTEM_CPU, SYSTEM_MEMORY

NAMESPACE = "noa"
KSM = {"job": KSM_JOB, "instance": KSM_INSTANCE}
CRONJOBS = {"noa-full-backup": "0 2 * * *", "noa-validate-backup": "15 4 * * *",
            "noa-backup-retention": "0 7 * * 0"}
JOB_CRONJOB = "noa-backup-retention"
JOB_WEEKS = 5
REVIEW_DAYS = 30
"""Besides the current era's pods, the pods running this many days ago carry restarts, requests
and limits (a capacity review a month back)."""
NODE_CPU_MODES = ("idle",)
RECENT_DAYS = 46
"""Families outside :data:`FULL_SPAN` are backfilled for this many days only (the budget of the
backfill: its time grows with the bytes promtool parses)."""
FULL_SPAN = frozenset({
    "container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "kube_pod_info",
    "kube_pod_container_resource_requests", "kube_pod_container_resource_limits",
    "kube_pod_container_status_restarts_total", "kube_node_status_allocatable",
    "kube_persistentvolumeclaim_resource_requests_storage_bytes", "node_cpu_seconds_total",
    "node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes",
    "kubelet_volume_stats_capacity_bytes", "kubelet_volume_stats_used_bytes",
    "kubelet_volume_stats_available_bytes", "kube_deployment_spec_replicas",
    "kube_deployment_status_replicas_available",
})
"""What a capacity review over the whole history reads: backfilled for all 91 days."""
GAUGE_EVERY = 2
"""Gauges of the cluster are backfilled every 2nd step (300 s: an instant query's 5-minute
look-back always finds one; ``*_over_time`` works over ranges of 10 minutes and more); counters
keep the history's step so ``rate(x[5m])`` works."""
RESTARTS = 2
"""Restarts of the first api pod during the past error-rate spike."""


@dataclass(frozen=True)
class HistoryPod:
    """A pod of the history: where it ran, which steps it existed (``mask``)."""

    name: str
    service: str
    version: str
    replicaset: str
    uid: str
    node: str
    mask: np.ndarray
    start: float


def _hash(text: str, n: int) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:n])


def pods(tl: Timeline) -> list[HistoryPod]:
    """The pods of every release era (contiguous steps running one version)."""
    out = []
    edges = [0, *(np.flatnonzero(np.diff(tl.version_index)) + 1).tolist(), len(tl.times)]
    slot = 0
    for era, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        version = tl.versions[int(tl.version_index[lo])]
        mask = np.zeros(tl.times.shape, dtype=bool)
        mask[lo:hi] = True
        for service in catalog.SERVICES:
            rs = f"{service}-{_hash(f'{service}/{version}', 10)}"
            for i in range(REPLICAS[service]):
                name = f"{rs}-{_hash(f'{rs}/{era}/{i}', 5)}"
                out.append(HistoryPod(
                    name, service, version, rs, str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                    catalog.NODES[slot % len(catalog.NODES)], mask, float(tl.times[lo])))
                slot += 1
    return out


def _fam(name: str, kind: str = "gauge") -> Family:
    return Family(name, kind, "", ())  # type: ignore[arg-type]


def _only(mask: np.ndarray, values: Array) -> Array:
    out: Array = np.where(mask, values, np.nan)
    return out


def _const(tl: Timeline, value: float) -> Array:
    return np.full_like(tl.times, float(value))


class _Series:
    """Collects series family by family (OpenMetrics wants each family contiguous)."""

    def __init__(self, recent: np.ndarray) -> None:
        self.by_family: dict[str, list[Series]] = {}
        self._old = ~recent

    def add(self, name: str, labels: dict[str, str], values: Array, *, kind: str = "gauge",
            decimals: int = 0) -> None:
        """A series; a gauge keeps every :data:`GAUGE_EVERY`-th step only."""
        family = _fam(name, kind)
        kept = np.round(values, decimals)
        if kind == "gauge" or name not in FULL_SPAN:
            kept = np.array(kept, dtype=np.float64)
        if kind == "gauge":
            kept[np.arange(kept.shape[0]) % GAUGE_EVERY != 0] = np.nan
        if name not in FULL_SPAN:
            kept[self._old] = np.nan
        self.by_family.setdefault(name, []).append(Series(family, name, labels, kept, decimals))

    def all(self) -> Iterator[Series]:
        for series in self.by_family.values():
            yield from series


def _usage(tl: Timeline, pod: HistoryPod, step: float) -> tuple[Array, Array, Array]:
    """(cpu cores, working set bytes, restarts) of a pod's container at every step."""
    level = tl.level
    cores = tl.per_effects(lambda e, m: model.cpu_ratio(pod.service, level[m], e))
    cores = cores * catalog.CPU_LIMIT[pod.service]
    ws = model.memory_share(pod.service, level) * catalog.MEMORY_LIMIT[pod.service]
    restarts = np.zeros_like(tl.times)
    spike = [k for k, e in enumerate(tl.effects) if e.error_5xx.get("api", 0) > 0.1]
    if pod.service == "api" and spike:
        in_spike = np.isin(tl.effect_index, spike) & pod.mask
        if in_spike.any():
            first = int(np.flatnonzero(in_spike)[0])
            restarts[first + 2:] = 1
            restarts[first + 6:] = RESTARTS
    return cores, ws, restarts


def generate_cluster(tl: Timeline, rng: np.random.Generator) -> Iterator[Series]:
    """Every cluster series of the history, family by family."""
    step = float(tl.times[1] - tl.times[0])
    out = _Series(tl.times >= tl.times[-1] - RECENT_DAYS * 86_400)
    all_pods = pods(tl)
    current = [p for p in all_pods if p.mask[-1]]
    back = int(np.searchsorted(tl.times, tl.times[-1] - REVIEW_DAYS * 86_400))
    recent = [p for p in all_pods if p.mask[-1] or p.mask[back]]
    usage = {p.name: _usage(tl, p, step) for p in all_pods}
    first_api = next((p for p in current if p.service == "api" and usage[p.name][2].any()),
                     None)
    _ksm_pods(tl, out, (all_pods, recent, current), usage, first_api)
    _ksm_workloads(tl, out, recent)
    _ksm_nodes_volumes_jobs(tl, out)
    _cadvisor(tl, out, all_pods, usage, step, rng)
    _kubelet(tl, out, current)
    _node_exporter(tl, out, all_pods, usage, step)
    yield from out.all()


def _pod_labels(p: HistoryPod) -> dict[str, str]:
    return {**KSM, "namespace": NAMESPACE, "pod": p.name, "uid": p.uid}


def _ksm_pods(tl: Timeline, out: _Series,
              sets: tuple[list[HistoryPod], list[HistoryPod], list[HistoryPod]],
              usage: dict[str, tuple[Array, Array, Array]],
              first_api: HistoryPod | None) -> None:
    all_pods, recent, current = sets
    one = _const(tl, 1)
    for p in all_pods:
        out.add("kube_pod_info", {**_pod_labels(p), "host_ip": catalog.NODE_IPS[p.node],
                                  "pod_ip": f"10.244.{catalog.NODES.index(p.node) + 1}."
                                            f"{int(p.uid[:2], 16) % 250 + 2}",
                                  "node": p.node, "created_by_kind": "ReplicaSet",
                                  "created_by_name": p.replicaset, "priority_class": "",
                                  "host_network": "false"}, _only(p.mask, one))
    for p in recent:
        out.add("kube_pod_container_status_restarts_total",
                {**_pod_labels(p), "container": p.service}, _only(p.mask, usage[p.name][2]),
                kind="counter")
    for kind, family in (("requests", "kube_pod_container_resource_requests"),
                         ("limits", "kube_pod_container_resource_limits")):
        cpu = catalog.CPU_REQUEST if kind == "requests" else catalog.CPU_LIMIT
        memory = catalog.MEMORY_REQUEST if kind == "requests" else catalog.MEMORY_LIMIT
        for p in recent:
            labels = {**_pod_labels(p), "container": p.service, "node": p.node}
            out.add(family, {**labels, "resource": "cpu", "unit": "core"},
                    _only(p.mask, _const(tl, cpu[p.service])), decimals=3)
            out.add(family, {**labels, "resource": "memory", "unit": "byte"},
                    _only(p.mask, _const(tl, memory[p.service])))
    for p in recent:
        base = _pod_labels(p)
        m = p.mask
        rs_labels = {"owner_kind": "ReplicaSet", "owner_name": p.replicaset,
                     "owner_is_controller": "true"}
        out.add("kube_pod_owner", {**base, **rs_labels}, _only(m, one))
        out.add("kube_pod_labels", {**base, "label_app": p.service,
                                    "label_app_kubernetes_io_name": "noa-server",
                                    "label_app_kubernetes_io_part_of": "noa",
                                    "label_pod_template_hash": p.replicaset.rsplit("-", 1)[1],
                                    "label_track": "stable"}, _only(m, one))
        out.add("kube_pod_status_phase", {**base, "phase": "Running"}, _only(m, one))
        out.add("kube_pod_status_ready", {**base, "condition": "true"}, _only(m, one))
        claim = catalog.VOLUMES.get(p.service)
        if claim is not None:
            out.add("kube_pod_spec_volumes_persistentvolumeclaims_info",
                    {**base, "volume": "data", "persistentvolumeclaim": claim[0],
                     "ephemeral": "false"}, _only(m, one))
    for p in current:
        base = _pod_labels(p)
        m = p.mask
        out.add("kube_pod_created", base, _only(m, _const(tl, p.start)))
        out.add("kube_pod_start_time", base, _only(m, _const(tl, p.start)))
        out.add("kube_pod_status_scheduled", {**base, "condition": "true"}, _only(m, one))
        c = {**base, "container": p.service}
        image = f"registry.noa.example/noa-server:{p.version}"
        out.add("kube_pod_container_info", {**c, "image": image, "image_spec": image,
                                            "image_id": "", "container_id": ""}, _only(m, one))
        for state, value in (("ready", 1), ("running", 1), ("waiting", 0), ("terminated", 0)):
            out.add(f"kube_pod_container_status_{state}", c, _only(m, _const(tl, value)))
    if first_api is not None:
        restarts = usage[first_api.name][2]
        c = {**_pod_labels(first_api), "container": "api"}
        first = int(np.flatnonzero(restarts)[0])
        waiting = np.full_like(tl.times, np.nan)
        waiting[first:first + 4] = 1
        out.add("kube_pod_container_status_waiting_reason", {**c, "reason": "CrashLoopBackOff"},
                waiting)
        after = _only((restarts > 0) & first_api.mask, _const(tl, 1))
        out.add("kube_pod_container_status_last_terminated_reason", {**c, "reason": "Error"},
                after)
        out.add("kube_pod_container_status_last_terminated_exitcode", c, after)
        out.add("kube_pod_container_status_last_terminated_timestamp", c,
                _only(restarts > 0, _const(tl, float(tl.times[first + 5]))))


def _ksm_workloads(tl: Timeline, out: _Series, recent: list[HistoryPod]) -> None:
    one = _const(tl, 1)
    start = float(tl.times[0]) - 120 * 86_400
    for service in catalog.SERVICES:
        d = {**KSM, "namespace": NAMESPACE, "deployment": service}
        n = REPLICAS[service]
        generation = 1 + np.cumsum(np.r_[0, np.diff(tl.version_index) != 0])
        for family in ("spec_replicas", "status_replicas", "status_replicas_available",
                       "status_replicas_updated", "status_replicas_ready"):
            out.add(f"kube_deployment_{family}", d, _const(tl, n))
        out.add("kube_deployment_status_replicas_unavailable", d, _const(tl, 0))
        out.add("kube_deployment_metadata_generation", d, generation.astype(np.float64))
        out.add("kube_deployment_status_observed_generation", d, generation.astype(np.float64))
        out.add("kube_deployment_status_condition", {**d, "reason": "MinimumReplicasAvailable",
                                                     "condition": "Available",
                                                     "status": "true"}, one)
        out.add("kube_deployment_created", d, _const(tl, start))
        out.add("kube_deployment_labels", {**d, "label_app": service,
                                           "label_app_kubernetes_io_name": "noa-server",
                                           "label_app_kubernetes_io_part_of": "noa"}, one)
        out.add("kube_deployment_spec_strategy_rollingupdate_max_surge", d, one)
        out.add("kube_deployment_spec_strategy_rollingupdate_max_unavailable", d,
                _const(tl, 0))
    for p in {p.replicaset: p for p in recent}.values():
        r = {**KSM, "namespace": NAMESPACE, "replicaset": p.replicaset}
        out.add("kube_replicaset_owner", {**r, "owner_kind": "Deployment",
                                          "owner_name": p.service,
                                          "owner_is_controller": "true"}, _only(p.mask, one))
        out.add("kube_replicaset_spec_replicas", r, _only(p.mask, _const(tl, REPLICAS[
            p.service])))
        out.add("kube_replicaset_status_ready_replicas", r, _only(p.mask, _const(
            tl, REPLICAS[p.service])))
    h = {**KSM, "namespace": NAMESPACE, "horizontalpodautoscaler": "api"}
    out.add("kube_horizontalpodautoscaler_info", {**h, "scaletargetref_api_version": "apps/v1",
                                                  "scaletargetref_kind": "Deployment",
                                                  "scaletargetref_name": "api"}, one)
    out.add("kube_horizontalpodautoscaler_metadata_generation", h, one)
    out.add("kube_horizontalpodautoscaler_spec_min_replicas", h, _const(tl, 3))
    out.add("kube_horizontalpodautoscaler_spec_max_replicas", h, _const(tl, 10))
    target = {**h, "metric_name": "cpu", "metric_target_type": "utilization"}
    out.add("kube_horizontalpodautoscaler_spec_target_metric", target, _const(tl, 70))
    utilization = tl.per_effects(lambda e, m: model.cpu_ratio("api", tl.level[m], e))
    utilization = utilization * catalog.CPU_LIMIT["api"] / catalog.CPU_REQUEST["api"] * 100
    out.add("kube_horizontalpodautoscaler_status_target_metric", target,
            np.round(utilization))
    out.add("kube_horizontalpodautoscaler_status_current_replicas", h, _const(tl, 3))
    out.add("kube_horizontalpodautoscaler_status_desired_replicas", h, _const(tl, 3))
    out.add("kube_horizontalpodautoscaler_status_condition", {**h, "condition": "AbleToScale",
                                                              "status": "true"}, one)


def _ksm_nodes_volumes_jobs(tl: Timeline, out: _Series) -> None:
    one = _const(tl, 1)
    created = float(tl.times[0]) - 30 * 86_400
    for i, node in enumerate(catalog.NODES):
        n = {**KSM, "node": node}
        out.add("kube_node_info", {**n, "kernel_version": "5.10.226-214.880.amzn2.x86_64",
                                   "os_image": "Amazon Linux 2",
                                   "container_runtime_version": "containerd://1.7.22",
                                   "kubelet_version": "v1.30.4-eks-a737599",
                                   "kubeproxy_version": "v1.30.4-eks-a737599",
                                   "provider_id": "", "pod_cidr": "", "system_uuid": "",
                                   "internal_ip": catalog.NODE_IPS[node]}, one)
        out.add("kube_node_labels", {**n, "label_kubernetes_io_hostname": node,
                                     "label_node_kubernetes_io_instance_type": "m5.xlarge",
                                     "label_topology_kubernetes_io_zone":
                                         ("eu-west-1a", "eu-west-1b", "eu-west-1c")[i],
                                     "label_eks_amazonaws_com_nodegroup": "noa-general"}, one)
        for field, family in ((CAPACITY, "kube_node_status_capacity"),
                              (ALLOCATABLE, "kube_node_status_allocatable")):
            for resource, unit in (("cpu", "core"), ("memory", "byte"), ("pods", "integer"))[
                    :3 if family.endswith("allocatable") else 2]:
                out.add(family, {**n, "resource": resource, "unit": unit},
                        _const(tl, parse_quantity(field[resource])), decimals=3)
        out.add("kube_node_status_condition", {**n, "condition": "Ready", "status": "true"},
                one)
        out.add("kube_node_spec_unschedulable", n, _const(tl, 0))
        out.add("kube_node_created", n, _const(tl, created))
    for claim, (storage_class, mode, size) in PVCS.items():
        c = {**KSM, "namespace": NAMESPACE, "persistentvolumeclaim": claim}
        out.add("kube_persistentvolumeclaim_info", {**c, "storageclass": storage_class,
                                                    "volumename": "",
                                                    "volumemode": "Filesystem"}, one)
        out.add("kube_persistentvolumeclaim_resource_requests_storage_bytes", c,
                _const(tl, parse_quantity(size)))
        out.add("kube_persistentvolumeclaim_status_phase", {**c, "phase": "Bound"}, one)
        out.add("kube_persistentvolumeclaim_access_mode", {**c, "access_mode": mode}, one)
        out.add("kube_persistentvolumeclaim_labels", {**c, "label_app_kubernetes_io_part_of":
                                                      "noa"}, one)
    for name, schedule in CRONJOBS.items():
        c = {**KSM, "namespace": NAMESPACE, "cronjob": name}
        out.add("kube_cronjob_info", {**c, "schedule": schedule, "concurrency_policy": "Forbid",
                                      "timezone": "Etc/UTC"}, one)
        out.add("kube_cronjob_spec_suspend", c, _const(tl, 0))
        fires = _fires(schedule, float(tl.times[0]) - 8 * 86_400, float(tl.times[-1]))
        index = np.searchsorted(fires, tl.times, side="right")
        out.add("kube_cronjob_status_last_schedule_time", c, fires[np.maximum(index - 1, 0)])
        nxt = np.array([*fires, cron.next_fire(schedule, float(fires[-1]))])
        out.add("kube_cronjob_next_schedule_time", c, nxt[index])
    fires = _fires(CRONJOBS[JOB_CRONJOB], float(tl.times[-1]) - JOB_WEEKS * 7 * 86_400,
                   float(tl.times[-1]))
    for i, at in enumerate(fires):
        gone = fires[i + 3] if i + 3 < len(fires) else np.inf  # successfulJobsHistoryLimit 3
        mask = (tl.times >= at) & (tl.times < gone)
        j = {**KSM, "namespace": NAMESPACE, "job_name": f"{JOB_CRONJOB}-{int(at // 60)}"}
        out.add("kube_job_owner", {**j, "owner_kind": "CronJob", "owner_name": JOB_CRONJOB,
                                   "owner_is_controller": "true"}, _only(mask, one))
        out.add("kube_job_status_succeeded", j, _only(mask, one))
        out.add("kube_job_status_failed", {**j, "reason": ""}, _only(mask, _const(tl, 0)))
        out.add("kube_job_status_active", j, _only(mask, _const(tl, 0)))


def _fires(schedule: str, start: float, end: float) -> Array:
    out = []
    at = cron.next_fire(schedule, start)
    while at <= end:
        out.append(at)
        at = cron.next_fire(schedule, at)
    return np.array(out, dtype=np.float64)


def _cadvisor(tl: Timeline, out: _Series, all_pods: list[HistoryPod],
              usage: dict[str, tuple[Array, Array, Array]], step: float,
              rng: np.random.Generator) -> None:
    for p in all_pods:
        labels = {"job": "kubelet", **kubelet_labels(p.node, "/metrics/cadvisor"),
                  "namespace": NAMESPACE, "pod": p.name, "container": p.service,
                  "image": f"registry.noa.example/noa-server:{p.version}",
                  "id": f"/kubepods/burstable/pod{p.uid}/{_hash(p.uid, 12)}",
                  "name": _hash(p.uid, 12)}
        cores = usage[p.name][0] + rng.normal(0.0, 0.01, tl.times.shape)
        seconds = np.cumsum(np.where(p.mask, np.maximum(cores, 0.005) * step, 0.0))
        out.add("container_cpu_usage_seconds_total", {**labels, "cpu": "total"},
                _only(p.mask, seconds), kind="counter", decimals=2)
        out.add("container_memory_working_set_bytes", labels, _only(p.mask, usage[p.name][1]))
    for node in catalog.NODES:
        mine = [p for p in all_pods if p.node == node]
        busy = _node_busy(tl, mine, usage)
        root = {"job": "kubelet", **kubelet_labels(node, "/metrics/cadvisor"), "id": "/"}
        out.add("container_cpu_usage_seconds_total", {**root, "cpu": "total"},
                np.cumsum(busy * step), kind="counter", decimals=2)
        out.add("container_memory_working_set_bytes", root, _node_memory(tl, mine, usage))


def _node_busy(tl: Timeline, mine: list[HistoryPod],
               usage: dict[str, tuple[Array, Array, Array]]) -> Array:
    busy = _const(tl, SYSTEM_CPU)
    for p in mine:
        busy = busy + np.where(p.mask, usage[p.name][0], 0.0)
    return busy


def _node_memory(tl: Timeline, mine: list[HistoryPod],
                 usage: dict[str, tuple[Array, Array, Array]]) -> Array:
    used = _const(tl, SYSTEM_MEMORY)
    for p in mine:
        used = used + np.where(p.mask, usage[p.name][1], 0.0)
    return used


def _kubelet(tl: Timeline, out: _Series, current: list[HistoryPod]) -> None:
    for index, (claim, (_, _, size)) in enumerate(sorted(PVCS.items())):
        service = next((s for s, v in catalog.VOLUMES.items() if v[0] == claim), None)
        if service is None:
            continue
        node = next(p.node for p in current if p.service == service)
        capacity = parse_quantity(size)
        used = np.round(model.disk_share(tl.times, tl.epoch, index % 5) * capacity)
        labels = {"job": "kubelet", **kubelet_labels(node, "/metrics"), "namespace": NAMESPACE,
                  "persistentvolumeclaim": claim}
        inodes = capacity // (16 * 1024)
        inodes_used = np.minimum(inodes, used // (180 * 1024) + 11)
        for name, values in (("capacity_bytes", _const(tl, capacity)),
                             ("available_bytes", capacity - used), ("used_bytes", used),
                             ("inodes", _const(tl, inodes)), ("inodes_free", inodes - inodes_used),
                             ("inodes_used", inodes_used)):
            out.add(f"kubelet_volume_stats_{name}", labels, values)
    for node in catalog.NODES:
        count = sum(1 for p in current if p.node == node)
        out.add("kubelet_running_pods", {"job": "kubelet", **kubelet_labels(node, "/metrics")},
                _const(tl, count))


def _node_exporter(tl: Timeline, out: _Series, all_pods: list[HistoryPod],
                   usage: dict[str, tuple[Array, Array, Array]], step: float) -> None:
    cpus = int(catalog.NODE_CPU)
    for node in catalog.NODES:
        labels = {"job": "node-exporter", **node_exporter_labels(node)}
        mine = [p for p in all_pods if p.node == node]
        busy = _node_busy(tl, mine, usage) / cpus
        for cpu in range(cpus):
            for mode in NODE_CPU_MODES:
                share = (1.0 - busy) if mode == "idle" else busy * CPU_MODES[mode]
                out.add("node_cpu_seconds_total", {**labels, "cpu": str(cpu), "mode": mode},
                        np.cumsum(share * step), kind="counter", decimals=2)
        total = float(catalog.NODE_MEMORY)
        used = _node_memory(tl, mine, usage)
        cached, buffers = 2.1 * catalog.GIB, 160 * catalog.MIB
        free = np.maximum(0.0, total - used - cached - buffers)
        for name, values in (("MemTotal", _const(tl, total)), ("MemFree", free),
                             ("Buffers", _const(tl, buffers)), ("Cached", _const(tl, cached)),
                             ("MemAvailable", free + 0.8 * cached + buffers)):
            out.add(f"node_memory_{name}_bytes", labels, values)
        root = {**labels, "device": "/dev/nvme0n1p1", "fstype": "xfs", "mountpoint": "/"}
        size = float(catalog.NODE_DISK)
        avail = size * (0.66 - 0.05 * (tl.times - tl.epoch) / (90 * 86_400))
        out.add("node_filesystem_size_bytes", root, _const(tl, size))
        out.add("node_filesystem_avail_bytes", root, avail)
        out.add("node_filesystem_free_bytes", root, avail)
        for window in ("1", "5", "15"):
            out.add(f"node_load{window}", labels, busy * cpus * 1.1, decimals=2)
        out.add("node_uname_info", {**labels, "domainname": "(none)", "machine": "x86_64",
                                    "nodename": "ip-" + catalog.NODE_IPS[node].replace(".", "-")
                                    + ".eu-west-1.compute.internal",
                                    "release": "5.10.226-214.880.amzn2.x86_64",
                                    "sysname": "Linux",
                                    "version": "#1 SMP Tue Oct 8 17:04:09 UTC 2024"},
                _const(tl, 1))
        out.add("node_boot_time_seconds", labels, _const(tl, float(tl.times[0]) - 3 * 86_400))


__all__ = ["HistoryPod", "generate_cluster", "pods"]
