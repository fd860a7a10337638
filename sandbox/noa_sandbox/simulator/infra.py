"""The cluster under NOA Server as its exporters see it (cAdvisor, kubelet volume stats,
node-exporter).

:class:`Infra` advances, every tick, the running containers, nodes and volumes of the
:class:`~.spec.WorldSpec` (:meth:`~.spec.WorldSpec.infrastructure`) following :mod:`.model`:
a container's CPU (cores) is the model's ratio × its CPU limit — serving pods at their traffic
share, running but not serving ones (a blue-green green, a canary before traffic) at idle load —
and its memory working set what its process needs (:func:`.memory.working_set`, bytes, whatever
its limit). A container whose memory limit is too small (:func:`.memory.undersized`) and the
scenario's ``oom_pod`` climb to the limit and each kill counts in ``container_oom_events_total``,
on the cycle the sandbox kubelet restarts them (:func:`~.world.oom_kills`). A volume's used bytes
are its ordinary share of its seeded size plus what was written on it (the observed
``volume_used``), against its current capacity — so an expanded PVC reports a smaller share.
:func:`~.exporters.render` turns the state into each exporter's families.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from noa_sandbox.simulator import catalog, memory, model
from noa_sandbox.simulator.scenarios import Effects
from noa_sandbox.simulator.spec import Container, Node, Volume, WorldSpec

CFS_PERIOD_S = 0.1
SYSTEM_CPU = 0.12
"""Cores a node spends outside the pods (kubelet, containerd, kernel)."""
SYSTEM_MEMORY = 1.3 * catalog.GIB
POD_OVERHEAD_MEMORY = 0.6 * catalog.MIB
"""The pause container and the pod cgroup's own pages."""
DISK_FILL_PER_S = 0.006
FULL_SHARE = 0.999
"""A volume reports at most this share used (the filesystem's reserve)."""
CPU_MODES = {"user": 0.70, "system": 0.19, "iowait": 0.03, "irq": 0.01, "softirq": 0.03,
             "steal": 0.02, "nice": 0.02}
"""How a node's busy time splits over node-exporter's CPU modes (idle is the rest)."""


@dataclass
class ContainerState:
    """What cAdvisor reports about one container (gauges set, counters grown).

    A restarted container (a new id) is a new cgroup: its counters start again, while the pod's
    (``pod_*``, the pod cgroup) keep counting — an OOM kill shows on the pod cgroup's
    ``container_oom_events_total`` after the killed container's series is gone."""

    info: Container
    cpu_seconds: float = 0.0
    periods: float = 0.0
    throttled: float = 0.0
    oom_events: float = 0.0
    cpu_cores: float = 0.0
    working_set: float = 0.0
    pod_cpu_seconds: float = 0.0
    pod_oom_events: float = 0.0

    def restarted(self, info: Container) -> None:
        """Follow ``info``; a new container id resets the container's own counters."""
        if info.id != self.info.id:
            self.cpu_seconds = self.periods = self.throttled = self.oom_events = 0.0
        self.info = info


@dataclass
class NodeState:
    """What node-exporter reports about one node."""

    info: Node
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    busy_cores: float = 0.0
    load: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    memory_used: float = 0.0
    root_cpu_seconds: float = 0.0
    boot: float = 0.0


@dataclass(frozen=True)
class VolumeState:
    """What the kubelet reports about one mounted volume."""

    info: Volume
    used: float


class Infra:
    """Containers, nodes and volumes over time (not thread-safe: :class:`~.world.World` locks)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.containers: dict[tuple[str, str], ContainerState] = {}
        self.nodes: dict[str, NodeState] = {}
        self.volumes: dict[str, VolumeState] = {}

    def step(self, spec: WorldSpec, now: float, dt: float, level: float, *,
             oom: Mapping[str, tuple[float, int]], effects: Effects) -> None:
        """Advance by ``dt`` seconds at load ``level``; ``oom`` maps each OOM-looping pod to
        its memory share of the limit and its kills since the last step."""
        containers, nodes, volumes = spec.infrastructure()
        live = {(c.pod, c.name) for c in containers}
        for key in [k for k in self.containers if k not in live]:
            del self.containers[key]
        serving = {s: sum(1 for c in containers if c.service == s and c.serving)
                   for s in catalog.SERVICES}
        for c in containers:
            state = self.containers.setdefault((c.pod, c.name), ContainerState(c))
            state.restarted(c)
            self._container(state, spec, dt, level, serving, oom.get(c.pod))
        self.nodes = {n.name: self.nodes.get(n.name, NodeState(n)) for n in nodes}
        for node in self.nodes.values():
            self._node(node, dt)
        self.volumes = {}
        names = sorted({v.name for v in volumes})
        for v in volumes:  # a volume mounted on several nodes: each kubelet reports it
            share = float(model.disk_share(now, spec.epoch, names.index(v.name) % 5))
            if v.name == effects.disk_filling_volume:
                share = min(0.995, max(share, 0.86) + DISK_FILL_PER_S * max(0.0, now - spec.since))
                used = share * v.capacity
            else:  # bytes: what the service keeps there, plus what was written (observed)
                ordinary = share * _ordinary_size(v.name, v.capacity)
                extra = effects.volume_used.get(v.name, 0.0) if v.namespace == "noa" else 0.0
                used = min(ordinary + extra, FULL_SHARE * v.capacity)
            self.volumes[f"{v.namespace}/{v.name}@{v.node}"] = VolumeState(v, round(used))

    def _container(self, state: ContainerState, spec: WorldSpec, dt: float, level: float,
                   serving: dict[str, int], oom: tuple[float, int] | None) -> None:
        c = state.info
        service = c.service
        effects = spec.effects_for(catalog.Pod(c.pod, service, _version(c.image)))
        if c.serving:
            defaults = sum(1 for p in catalog.DEFAULT_PODS if p.service == service)
            own = level * defaults / max(1, serving[service])
        else:
            own = 0.0
        ratio = float(model.cpu_ratio(service, own, effects)) + self._rng.gauss(0.0, 0.015)
        memory_limit = c.memory_limit or max(c.memory_request * 2.0, 256 * catalog.MIB)
        noise = self._rng.gauss(0.0, 0.004)
        if c.memory_limit and service in catalog.MEMORY_LIMIT:  # what it needs, in bytes
            share = memory.working_set(service, own) / memory_limit + noise
        else:
            share = float(model.memory_share(service, own)) + noise
        if oom is not None:
            ratio, share = ratio + 0.2, oom[0]
            state.oom_events += oom[1]
            state.pod_oom_events += oom[1]
        ratio = min(max(ratio, 0.01), 0.99)
        limit = c.cpu_limit or max(c.cpu_request * 2.0, 0.5)
        state.cpu_cores = ratio * limit
        state.cpu_seconds += state.cpu_cores * dt
        state.pod_cpu_seconds += state.cpu_cores * dt
        state.working_set = float(round(min(share, 0.999) * memory_limit))
        if c.cpu_limit:
            periods = dt / CFS_PERIOD_S
            state.periods += periods
            state.throttled += periods * 0.5 * max(0.0, (ratio - 0.6) / 0.4) ** 2

    def _node(self, node: NodeState, dt: float) -> None:
        mine = [s for s in self.containers.values() if s.info.node == node.info.name]
        busy = min(node.info.cpu, sum(s.cpu_cores for s in mine) + SYSTEM_CPU
                   + abs(self._rng.gauss(0.0, 0.01)))
        node.busy_cores = busy
        node.root_cpu_seconds += busy * dt
        per_cpu = node.info.cpu or 1.0
        for mode, part in CPU_MODES.items():
            node.cpu_seconds[mode] = node.cpu_seconds.get(mode, 0.0) + busy * part * dt / per_cpu
        node.cpu_seconds["idle"] = node.cpu_seconds.get("idle", 0.0) + (
            per_cpu - busy) * dt / per_cpu
        for i, window in enumerate((60.0, 300.0, 900.0)):
            weight = min(1.0, dt / window)
            node.load[i] += (busy * 1.1 - node.load[i]) * weight if node.load[i] else busy * 1.1
        pods = {s.info.pod for s in mine}
        node.memory_used = (sum(s.working_set for s in mine) + len(pods) * POD_OVERHEAD_MEMORY
                            + SYSTEM_MEMORY)


def _ordinary_size(name: str, capacity: float) -> float:
    """The size a volume's ordinary use is a share of: its seeded size (so growing the PVC
    lowers the share used), else its capacity."""
    seeded = {claim: size for claim, _, size in catalog.VOLUMES.values()}
    return float(seeded.get(name, capacity))


def _version(image: str) -> str:
    tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
    return tag or catalog.DEFAULT_VERSION


__all__ = ["CFS_PERIOD_S", "ContainerState", "Infra", "NodeState", "VolumeState"]
