"""The Deployment controller's arithmetic, as pure functions (no store, no clock).

It follows the real controller (``pkg/controller/deployment`` of Kubernetes):

- :func:`template_hash` — the ``pod-template-hash`` label: FNV-1a (32 bit) over the pod template
  without that label, its decimal digits mapped onto ``bcdfghjklmnpqrstvwxz2456789`` (the
  alphabet of ``rand.SafeEncodeString``), zero-padded to 10 characters;
- :func:`resolve_fenceposts` — ``maxSurge``/``maxUnavailable`` as ints or percents (surge rounds
  up, unavailable down; both 0 becomes ``maxUnavailable`` 1);
- :func:`rolling_step` — one ``rolloutRolling`` sync: scale the new ReplicaSet up to
  ``replicas + maxSurge - (all pods)``; when it did not scale up, scale old ReplicaSets down
  (unhealthy replicas first, then oldest first) as far as ``available >= replicas -
  maxUnavailable`` allows;
- :func:`recreate_step` — the ``Recreate`` strategy: old ReplicaSets to 0, and the new one up only
  once no old pod is left;
- :func:`scale_step` — a scaling event (``spec.replicas`` changed mid-rollout): proportional
  scaling of the active ReplicaSets;
- :func:`deployment_complete` / :func:`min_available`.

A ReplicaSet is described by :class:`RSView` (name, ``spec.replicas``, pods it has, available
pods, creation order). Steps return ``{name: new spec.replicas}`` for the ReplicaSets to change.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

HASH_LABEL = "pod-template-hash"
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""Characters of generated names and hashes: no vowels (no words), no look-alikes."""

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv1a_32(data: bytes) -> int:
    """The 32-bit FNV-1a hash of ``data`` (what the controller feeds its template printer to)."""
    value = _FNV_OFFSET
    for byte in data:
        value ^= byte
        value = (value * _FNV_PRIME) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """``rand.SafeEncodeString``: every byte mapped onto :data:`ALPHABET`."""
    return "".join(ALPHABET[b % len(ALPHABET)] for b in text.encode())


def template_hash(template: Mapping[str, Any], collision_count: int = 0) -> str:
    """The ``pod-template-hash`` of a pod template (stable: key order does not matter)."""
    clean = json.loads(json.dumps(template))
    labels = (clean.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    text = json.dumps(clean, sort_keys=True, separators=(",", ":"))
    if collision_count:
        text += f"#{collision_count}"
    return safe_encode(f"{fnv1a_32(text.encode()):010d}")


def templates_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """True when two pod templates are equal ignoring the ``pod-template-hash`` label."""
    return template_hash(a) == template_hash(b)


def int_or_percent(value: Any, total: int, *, round_up: bool, default: str = "25%") -> int:
    """``intstr.GetScaledValueFromIntOrPercent``: an int, or ``"N%"`` of ``total``.

    Raises:
        ValueError: neither an int nor a percent string.
    """
    if value is None:
        value = default
    if isinstance(value, bool):
        raise ValueError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            try:
                percent = int(text[:-1])
            except ValueError:
                raise ValueError(f"invalid value for IntOrString: {value!r}") from None
            scaled = percent * total / 100
            return math.ceil(scaled) if round_up else math.floor(scaled)
        if text.isdigit():
            return int(text)
    raise ValueError(f"invalid value for IntOrString: {value!r}")


def resolve_fenceposts(max_surge: Any, max_unavailable: Any, replicas: int) -> tuple[int, int]:
    """``(surge, unavailable)`` in pods for ``replicas`` (``ResolveFenceposts``)."""
    surge = int_or_percent(max_surge, replicas, round_up=True)
    unavailable = int_or_percent(max_unavailable, replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return max(surge, 0), max(unavailable, 0)


@dataclass(frozen=True)
class RSView:
    """What the stepping needs of one ReplicaSet.

    ``replicas`` is ``spec.replicas``; ``pods`` its existing pods (``status.replicas``);
    ``ready``/``available`` its Ready/available pods; ``order`` sorts by age (creation, then
    revision; lower is older).
    """

    name: str
    replicas: int
    pods: int = 0
    available: int = 0
    order: tuple[str, str] = ("", "")
    ready: int = 0


@dataclass(frozen=True)
class Strategy:
    """A Deployment's ``spec.strategy`` resolved against its ``spec.replicas``."""

    kind: str  # "RollingUpdate" | "Recreate"
    surge: int = 1
    unavailable: int = 0


def strategy_of(spec: Mapping[str, Any]) -> Strategy:
    """The resolved strategy of a Deployment ``spec`` (defaults as the API server sets them)."""
    replicas = int(spec.get("replicas", 1))
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return Strategy("Recreate", 0, 0)
    rolling = strategy.get("rollingUpdate") or {}
    surge, unavailable = resolve_fenceposts(
        rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%"), replicas
    )
    return Strategy("RollingUpdate", surge, unavailable)


def min_available(replicas: int, strategy: Strategy) -> int:
    """Pods that must stay available (``replicas - maxUnavailable``; all for Recreate)."""
    if strategy.kind == "Recreate":
        return replicas
    return max(replicas - strategy.unavailable, 0)


def new_rs_replicas(replicas: int, strategy: Strategy, new: RSView, all_rs: Sequence[RSView]
                    ) -> int:
    """``NewRSNewReplicas``: what the new ReplicaSet may be scaled up to right now."""
    if strategy.kind == "Recreate":
        return replicas
    current = sum(rs.replicas for rs in all_rs)
    max_total = replicas + strategy.surge
    if current >= max_total:
        return new.replicas
    scale_up = min(max_total - current, replicas - new.replicas)
    return new.replicas + max(scale_up, 0)


def rolling_step(replicas: int, strategy: Strategy, new: RSView, olds: Sequence[RSView]
                 ) -> dict[str, int]:
    """One sync of a RollingUpdate: the ReplicaSets to resize and their new ``spec.replicas``."""
    all_rs = [*olds, new]
    # reconcileNewReplicaSet
    if new.replicas > replicas:
        return {new.name: replicas}
    if new.replicas < replicas:
        wanted = new_rs_replicas(replicas, strategy, new, all_rs)
        if wanted != new.replicas:
            return {new.name: wanted}
    # reconcileOldReplicaSets
    active = sorted((rs for rs in olds if rs.replicas > 0), key=lambda rs: rs.order)
    if not active:
        return {}
    all_pods = sum(rs.replicas for rs in all_rs)
    minimum = min_available(replicas, strategy)
    new_unavailable = new.replicas - new.available
    max_scaled_down = all_pods - minimum - new_unavailable
    if max_scaled_down <= 0:
        return {}
    changes: dict[str, int] = {}
    current = {rs.name: rs.replicas for rs in active}
    # cleanupUnhealthyReplicas: old replicas that are not available go first
    cleaned = 0
    for rs in active:
        if cleaned >= max_scaled_down:
            break
        if rs.replicas == rs.available:
            continue
        down = min(max_scaled_down - cleaned, rs.replicas - rs.available)
        if down > 0:
            current[rs.name] = rs.replicas - down
            changes[rs.name] = current[rs.name]
            cleaned += down
    # scaleDownOldReplicaSetsForRollingUpdate: available ones, oldest first
    available = new.available + sum(rs.available for rs in active)
    if available > minimum:
        budget = available - minimum
        for rs in active:
            if budget <= 0:
                break
            size = current[rs.name]
            if size == 0:
                continue
            down = min(size, budget)
            current[rs.name] = size - down
            changes[rs.name] = current[rs.name]
            budget -= down
    return changes


def recreate_step(replicas: int, new: RSView | None, olds: Sequence[RSView]) -> dict[str, int]:
    """One sync of a Recreate rollout (``new`` is ``None`` until it may be created)."""
    changes = {rs.name: 0 for rs in olds if rs.replicas > 0}
    if changes:
        return changes
    if any(rs.pods > 0 for rs in olds):
        return {}  # wait for the old pods to be gone
    if new is not None and new.replicas != replicas:
        return {new.name: replicas}
    return {}


def old_pods_running(olds: Sequence[RSView]) -> bool:
    """True while an old ReplicaSet still has pods (Recreate waits for them)."""
    return any(rs.pods > 0 or rs.replicas > 0 for rs in olds)


def scale_step(replicas: int, strategy: Strategy, new: RSView | None, olds: Sequence[RSView]
               ) -> dict[str, int]:
    """A scaling event: spread ``replicas`` (+ surge) over the active ReplicaSets.

    With one active ReplicaSet (or none but the new one) it simply gets ``replicas``; with
    several, the difference is distributed proportionally to their sizes, the remainder going to
    the newest (the new ReplicaSet when it is among them), as ``scale()`` of the real controller.
    """
    active = [rs for rs in olds if rs.replicas > 0]
    if new is not None and (new.replicas > 0 or not active):
        active.append(new)
    if not active:
        return {}
    if len(active) == 1:
        only = active[0]
        return {only.name: replicas} if only.replicas != replicas else {}
    allowed = replicas + (strategy.surge if strategy.kind == "RollingUpdate" else 0)
    current = sum(rs.replicas for rs in active)
    delta = allowed - current
    if delta == 0:
        return {}
    ordered = sorted(active, key=lambda rs: rs.order, reverse=True)  # newest first
    changes: dict[str, int] = {}
    added = 0
    for rs in ordered:
        part = int(delta * rs.replicas / current) if current else 0
        size = max(rs.replicas + part, 0)
        changes[rs.name] = size
        added += size - rs.replicas
    leftover = delta - added
    if leftover:
        target = new.name if new is not None and new.name in changes else ordered[0].name
        changes[target] = max(changes[target] + leftover, 0)
    return {name: size for name, size in changes.items()
            if size != next(rs.replicas for rs in active if rs.name == name)}


def deployment_complete(replicas: int, updated: int, total: int, available: int,
                        observed_current: bool = True) -> bool:
    """``DeploymentComplete``: every pod updated and available, no old pod left."""
    return (observed_current and updated == replicas and total == replicas
            and available == replicas)


def next_revision(revisions: Sequence[int]) -> int:
    """The revision a newly active ReplicaSet gets: one above the highest existing."""
    return max(revisions, default=0) + 1


__all__ = [
    "ALPHABET",
    "HASH_LABEL",
    "RSView",
    "Strategy",
    "deployment_complete",
    "fnv1a_32",
    "int_or_percent",
    "min_available",
    "new_rs_replicas",
    "next_revision",
    "old_pods_running",
    "recreate_step",
    "resolve_fenceposts",
    "rolling_step",
    "safe_encode",
    "scale_step",
    "strategy_of",
    "template_hash",
    "templates_equal",
]
