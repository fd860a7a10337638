"""What a container of NOA Server needs in memory, and when its limit is too small for it.

A pod's working set is what its process needs (bytes: :func:`working_set`, the model's share of
the service's *ordinary* limit, :data:`catalog.MEMORY_LIMIT`), whatever limit its container has.
A container whose limit is below :func:`peak_need` (the need at full load, with the margin the
allocator takes) is **undersized**: its memory climbs to the limit and the OOM killer ends it on
the cycle of :func:`~.world.oom_kills` — the simulator (cAdvisor) and the sandbox kubelet (the
restarts, ``OOMKilled``) both decide it with :func:`undersized`, from the limit each reads (the
world file's containers, the pod spec), so raising the limit — a Deployment patch, pods
replaced — is what ends the kills.
"""

from __future__ import annotations

from noa_sandbox.simulator import catalog

PEAK_LEVEL = 1.6
"""The traffic level the need is sized for (the busiest hours of the week)."""
OOM_MARGIN = 1.02
"""The allocator's slack over the working set: a limit under need × this is killed."""


def working_set(service: str, level: float) -> float:
    """Bytes a pod of ``service`` uses at traffic ``level`` (no leak, enough memory)."""
    return (catalog.MEMORY_BASE[service] + 0.06 * level) * catalog.MEMORY_LIMIT[service]


def peak_need(service: str) -> float:
    """Bytes a container of ``service`` needs not to be OOM-killed."""
    return working_set(service, PEAK_LEVEL) * OOM_MARGIN


def undersized(service: str, memory_limit: float) -> bool:
    """True when a container of ``service`` with ``memory_limit`` bytes (0: none) is OOM-killed
    again and again."""
    if service not in catalog.MEMORY_LIMIT or memory_limit <= 0:
        return False
    return memory_limit < peak_need(service)


__all__ = ["OOM_MARGIN", "PEAK_LEVEL", "peak_need", "undersized", "working_set"]
