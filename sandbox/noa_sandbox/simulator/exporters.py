"""The simulated kubelets' cAdvisor and volume stats and node-exporter, as metric families.

:func:`render` gives one node's families for one endpoint (:data:`ENDPOINTS`), from an
:class:`~.infra.Infra`, with the names and labels the real exporters use:

- ``cadvisor`` (``/kubelet/<node>/metrics/cadvisor``): ``container_*`` per container
  (``namespace``, ``pod``, ``container``, ``image``, ``id`` = cgroup path, ``name`` = container
  id), per pod cgroup (``container=""``, ``image=""``) and for the node's root cgroup (``id="/"``,
  no pod labels) — so ``sum(container_memory_working_set_bytes)`` without ``container!=""``
  counts pods twice and the node once more, as on a real cluster;
- ``kubelet`` (``/kubelet/<node>/metrics``): ``kubelet_volume_stats_*`` for the PVCs mounted on
  that node, ``kubelet_running_pods``, ``kubelet_running_containers``;
- ``node-exporter`` (``/node-exporter/<node>/metrics``): ``node_cpu_seconds_total``,
  ``node_memory_*_bytes``, ``node_filesystem_*_bytes``, ``node_load1/5/15``, ``node_uname_info``,
  ``node_boot_time_seconds``.
"""

from __future__ import annotations

import zlib

from prometheus_client.core import Metric

from noa_sandbox.exposition import Families
from noa_sandbox.simulator import catalog
from noa_sandbox.simulator.infra import CFS_PERIOD_S, ContainerState, Infra, NodeState

ENDPOINTS = ("cadvisor", "kubelet", "node-exporter")
KERNEL = "5.10.226-214.880.amzn2.x86_64"
INODE_BYTES = 16 * 1024
"""Bytes per inode of a volume's filesystem (ext4's default ratio)."""
AVERAGE_FILE_BYTES = 180 * 1024


def render(infra: Infra, endpoint: str, node: str, now: float) -> list[Metric] | None:
    """``endpoint``'s families for ``node``; ``None`` for an unknown node or endpoint."""
    state = infra.nodes.get(node)
    if state is None or endpoint not in ENDPOINTS:
        return None
    out = Families()
    if endpoint == "cadvisor":
        _cadvisor(out, infra, state)
    elif endpoint == "kubelet":
        _kubelet(out, infra, node)
    else:
        _node_exporter(out, state, now)
    return out.collected()


def _pod_cgroup(uid: str) -> str:
    return f"/kubepods/burstable/pod{uid}"


def _cadvisor(out: Families, infra: Infra, node: NodeState) -> None:
    mine = [s for s in infra.containers.values() if s.info.node == node.info.name]
    by_pod: dict[str, list[ContainerState]] = {}
    for s in mine:
        by_pod.setdefault(s.info.pod, []).append(s)
    for s in mine:
        c = s.info
        runtime_id = c.id.rpartition("//")[2]
        labels = {"namespace": c.namespace, "pod": c.pod, "container": c.name, "image": c.image,
                  "id": f"{_pod_cgroup(c.uid)}/{runtime_id}", "name": runtime_id}
        _usage(out, labels, s.cpu_seconds, s.working_set, s.oom_events)
        limit = c.memory_limit
        out.add("container_spec_memory_limit_bytes", "Memory limit for the container.", labels,
                limit)
        if c.cpu_limit:
            out.add("container_spec_cpu_quota", "CPU quota of the container.", labels,
                    round(c.cpu_limit * CFS_PERIOD_S * 1e6))
            out.add("container_spec_cpu_period", "CPU period of the container.", labels,
                    CFS_PERIOD_S * 1e6)
            out.add("container_cpu_cfs_periods_total", "Number of elapsed enforcement period "
                    "intervals.", labels, int(s.periods), counter=True)
            out.add("container_cpu_cfs_throttled_periods_total", "Number of throttled period "
                    "intervals.", labels, int(s.throttled), counter=True)
    for pod, states in sorted(by_pod.items()):
        first = states[0].info
        labels = {"namespace": first.namespace, "pod": pod, "container": "", "image": "",
                  "id": _pod_cgroup(first.uid), "name": ""}
        _usage(out, labels, sum(s.pod_cpu_seconds for s in states) * 1.002,
               sum(s.working_set for s in states) + 600 * 1024,
               sum(s.pod_oom_events for s in states))
    root = {"namespace": "", "pod": "", "container": "", "image": "", "id": "/", "name": ""}
    _usage(out, root, node.root_cpu_seconds, node.memory_used, 0.0)


def _usage(out: Families, labels: dict[str, str], cpu_seconds: float, working_set: float,
           oom_events: float) -> None:
    out.add("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.",
            {**labels, "cpu": "total"}, round(cpu_seconds, 3), counter=True)
    cache = round(working_set * 0.12)
    out.add("container_memory_working_set_bytes", "Current working set in bytes.", labels,
            working_set)
    out.add("container_memory_rss", "Size of RSS in bytes.", labels, round(working_set * 0.92))
    out.add("container_memory_cache", "Number of bytes of page cache memory.", labels, cache)
    out.add("container_memory_usage_bytes", "Current memory usage in bytes, including all "
            "memory regardless of when it was accessed.", labels, working_set + cache)
    out.add("container_oom_events_total", "Count of out of memory events observed for the "
            "container.", labels, oom_events, counter=True)


def _kubelet(out: Families, infra: Infra, node: str) -> None:
    for v in sorted(infra.volumes.values(), key=lambda v: v.info.name):
        if v.info.node != node:
            continue
        labels = {"namespace": v.info.namespace, "persistentvolumeclaim": v.info.name}
        capacity = v.info.capacity
        inodes = capacity // INODE_BYTES
        inodes_used = min(inodes, v.used // AVERAGE_FILE_BYTES + 11)
        for name, text, value in (
            ("capacity_bytes", "Capacity in bytes of the volume", capacity),
            ("available_bytes", "Number of available bytes in the volume", capacity - v.used),
            ("used_bytes", "Number of used bytes in the volume", v.used),
            ("inodes", "Maximum number of inodes in the volume", inodes),
            ("inodes_free", "Number of free inodes in the volume", inodes - inodes_used),
            ("inodes_used", "Number of used inodes in the volume", inodes_used),
        ):
            out.add(f"kubelet_volume_stats_{name}", f"[ALPHA] {text}", labels, value)
    mine = [s for s in infra.containers.values() if s.info.node == node]
    out.add("kubelet_running_pods", "[ALPHA] Number of pods that have a running pod sandbox",
            {}, len({s.info.pod for s in mine}))
    out.add("kubelet_running_containers", "[ALPHA] Number of containers currently running",
            {"container_state": "running"}, len(mine))


def _node_exporter(out: Families, node: NodeState, now: float) -> None:
    cpus = max(1, int(node.info.cpu))
    for cpu in range(cpus):
        for mode, seconds in sorted(node.cpu_seconds.items()):
            out.add("node_cpu_seconds_total", "Seconds the CPUs spent in each mode.",
                    {"cpu": str(cpu), "mode": mode}, round(seconds, 2), counter=True)
    total = node.info.memory
    cached = 2.1 * catalog.GIB
    buffers = 160 * catalog.MIB
    free = max(0.0, total - node.memory_used - cached - buffers)
    for name, value in (("MemTotal", total), ("MemFree", free), ("Buffers", buffers),
                        ("Cached", cached), ("MemAvailable", free + 0.8 * cached + buffers)):
        out.add(f"node_memory_{name}_bytes", f"Memory information field {name}_bytes.", {},
                round(value))
    seed = zlib.crc32(node.info.name.encode())
    root = {"device": "/dev/nvme0n1p1", "fstype": "xfs", "mountpoint": "/"}
    size = float(catalog.NODE_DISK)
    used = size * (0.31 + (seed % 7) / 100.0)
    out.add("node_filesystem_size_bytes", "Filesystem size in bytes.", root, size)
    out.add("node_filesystem_free_bytes", "Filesystem free space in bytes.", root, size - used)
    out.add("node_filesystem_avail_bytes", "Filesystem space available to non-root users in "
            "bytes.", root, size - used)
    for window, value in zip(("1", "5", "15"), node.load, strict=True):
        out.add(f"node_load{window}", f"{window}m load average.", {}, round(value, 2))
    hostname = "ip-" + node.info.ip.replace(".", "-") + ".eu-west-1.compute.internal"
    out.add("node_uname_info", "Labeled system information as provided by the uname system "
            "call.", {"domainname": "(none)", "machine": "x86_64", "nodename": hostname,
                      "release": KERNEL, "sysname": "Linux",
                      "version": "#1 SMP Tue Oct 8 17:04:09 UTC 2024"}, 1)
    if not node.boot:
        node.boot = float(int(now - 86_400 * (3 + seed % 5) - seed % 3600))
    out.add("node_boot_time_seconds", "Node boot time, in unixtime.", {}, node.boot)


__all__ = ["ENDPOINTS", "render"]
