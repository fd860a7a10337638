"""The decisions of ``incident/oom_kills``, as pure functions: leak or undersized, the new limit,
and the bounds it must stay within.

**Leak vs undersized.** A *leak* climbs: after each restart the working set grows steadily
until the OOM killer ends it, and it started with a recent release (the image changed) — the
cure is rolling that release back. An *undersized* container is flat close to a limit that is
too small, typically a limit that was lowered — the cure is raising the limit. :func:`classify`
weighs exactly that evidence (:class:`OomEvidence`), in this order: no kills and room under the
limit → ``healthy``; the current revision lowered the limit → ``undersized``; a recent image
rollout and a climb of at least :data:`LEAK_CLIMB_PCT_PER_MIN` → ``leak``; a flat working set
near the limit → ``undersized``; anything else → ``unclear`` (no automatic change).

**The new limit** (:func:`propose_limit`) is the observed peak × (1 + headroom), rounded up to
:data:`LIMIT_STEP`. An OOM-killed container never shows more than its limit, so when the peak is
censored by the limit and the limit was lowered, the proposal is at least the previous limit (it
ran without kills).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from noa_lib.errors import ParameterError, UnsafeActionRefused
from noa_lib.ops.names import validate_name
from noa_lib.ops.promql_render import parse_duration
from noa_lib.ops.resources.quantity import MI, format_bytes, human, parse_bytes, round_up

Cause = Literal["healthy", "undersized", "leak", "unclear"]

LEAK_CLIMB_PCT_PER_MIN = 0.5
"""A working set that grows by at least this share of its limit per minute is climbing."""
NEAR_LIMIT_PCT = 80.0
"""Memory at or above this share of the limit is close to it (the memory warning threshold)."""
CENSORED_PCT = 90.0
"""A peak at or above this share of the limit was cut off by the OOM killer."""
RECENT_ROLLOUT_S = 2 * 3600.0
"""A rollout younger than this can have brought a leak."""
LIMIT_STEP = 64 * MI
MIN_SEGMENT_S = 120.0
"""A restart-free stretch shorter than this says nothing about a climb."""
RESTART_DROP_PCT = 15.0
"""A fall of the working set by at least this share of the limit is a restart."""
MAX_HEADROOM_PCT = 200.0


@dataclass(frozen=True)
class OomParameters:
    """Validated parameters of ``incident/oom_kills``."""

    service: str
    window: str
    window_s: float
    headroom_pct: float
    max_limit: float


def oom_parameters(*, service: str, window: str, headroom_pct: float, max_limit: str
                   ) -> OomParameters:
    """Check the runbook's parameters before anything is read or changed.

    Raises:
        ParameterError: naming the parameter and what is accepted.
    """
    validate_name(service, "service", "label")
    try:
        seconds = parse_duration(window)
    except ParameterError as exc:
        raise ParameterError(str(exc), name="window", accepted=exc.accepted) from None
    if isinstance(headroom_pct, bool) or not isinstance(headroom_pct, int | float) or not (
            0 < headroom_pct <= MAX_HEADROOM_PCT):
        accepted = f"a number above 0 and at most {MAX_HEADROOM_PCT:g}"
        raise ParameterError(f"headroom_pct={headroom_pct!r} is out of range; accepted: "
                             f"{accepted}", name="headroom_pct", accepted=accepted)
    return OomParameters(service, window, seconds, float(headroom_pct),
                         parse_bytes(max_limit, "max_limit"))


@dataclass(frozen=True)
class OomEvidence:
    """What the diagnosis measured, the input of :func:`classify`."""

    oom_kills: float
    memory_pct: float | None  # working set / limit now (worst container), percent
    climb_pct_per_min: float | None  # median climb between restarts (None: no long stretch)
    limit_lowered: bool  # the current revision has a smaller memory limit than the previous
    image_changed: bool  # the current revision changed the image
    rollout_age_s: float | None  # how long ago the current revision was rolled out


@dataclass(frozen=True)
class OomVerdict:
    """The cause and why."""

    cause: Cause
    reason: str


def classify(e: OomEvidence) -> OomVerdict:
    """Leak, undersized, healthy or unclear (see the module docstring for the order)."""
    memory = e.memory_pct or 0.0
    if e.oom_kills < 0.5 and memory < NEAR_LIMIT_PCT:
        return OomVerdict("healthy", f"no OOM kill in the window and memory at {memory:.0f} % "
                                     "of the limit")
    if e.limit_lowered:
        return OomVerdict("undersized", "the current revision lowered the memory limit and the "
                                        "containers now hit it: raise the limit")
    recent = e.rollout_age_s is not None and e.rollout_age_s <= RECENT_ROLLOUT_S
    climbing = e.climb_pct_per_min is not None and e.climb_pct_per_min >= LEAK_CLIMB_PCT_PER_MIN
    if recent and e.image_changed and climbing:
        return OomVerdict("leak", f"memory climbs {e.climb_pct_per_min:.1f} % of the limit per "
                                  "minute after each restart since a release rolled out "
                                  f"{(e.rollout_age_s or 0) / 60:.0f} min ago: roll it back")
    if not climbing and memory >= NEAR_LIMIT_PCT:
        return OomVerdict("undersized", f"a flat working set at {memory:.0f} % of the limit: "
                                        "the limit is too small for the load, raise it")
    return OomVerdict("unclear", "memory climbs but no recent release explains it (or it is not "
                                 "near the limit): no automatic change — restart the pods to buy "
                                 "time and find the leak")


def climb_rate(series: Sequence[Sequence[tuple[float, float]]]) -> float | None:
    """Median climb (percent of the limit per minute) over the restart-free stretches of at least
    :data:`MIN_SEGMENT_S` in ``series`` (per container: ``(unix time, percent of limit)``)."""
    slopes = []
    for points in series:
        for segment in _segments(sorted(points)):
            if len(segment) >= 4 and segment[-1][0] - segment[0][0] >= MIN_SEGMENT_S:
                slopes.append(_slope(segment) * 60.0)
    if not slopes:
        return None
    slopes.sort()
    return slopes[len(slopes) // 2]


def _segments(points: Sequence[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    out: list[list[tuple[float, float]]] = []
    for point in points:
        if not out or out[-1][-1][1] - point[1] >= RESTART_DROP_PCT:
            out.append([point])
        else:
            out[-1].append(point)
    return out


def _slope(points: Sequence[tuple[float, float]]) -> float:
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var


def propose_limit(*, peak: float, current: float, previous: float | None, headroom_pct: float,
                  limit_lowered: bool) -> float:
    """The new memory limit in bytes (see the module docstring); never below ``current``."""
    wanted = peak * (1 + headroom_pct / 100.0)
    censored = current > 0 and peak >= current * CENSORED_PCT / 100.0
    if censored and limit_lowered and previous:
        wanted = max(wanted, previous)
    return round_up(max(wanted, current), LIMIT_STEP)


@dataclass(frozen=True)
class Bounds:
    """What a new limit must stay within: ``max_limit`` (the runbook's), the namespace's
    LimitRange maximum for a container and the ResourceQuota's room for ``limits.memory``."""

    max_limit: float
    limit_range_max: float | None = None
    quota_hard: float | None = None
    quota_used: float | None = None


def check_limit(new: float, current: float, replicas: int, surge: int, bounds: Bounds) -> None:
    """Refuse a limit beyond the bounds (the rollout adds ``surge`` pods at the new limit).

    Raises:
        UnsafeActionRefused: naming the bound and the numbers.
    """
    if new > bounds.max_limit:
        raise UnsafeActionRefused(
            f"the proposed memory limit {format_bytes(new)} is above max_limit="
            f"{format_bytes(bounds.max_limit)}: refused — raise max_limit after checking the "
            "nodes can hold it, or look for a leak")
    if bounds.limit_range_max is not None and new > bounds.limit_range_max:
        raise UnsafeActionRefused(
            f"the proposed memory limit {format_bytes(new)} is above the namespace LimitRange's "
            f"maximum for a container ({format_bytes(bounds.limit_range_max)}): refused")
    if bounds.quota_hard is not None:
        used = bounds.quota_used or 0.0
        needed = used + (new - current) * replicas + new * surge
        if needed > bounds.quota_hard:
            raise UnsafeActionRefused(
                f"the rollout would need limits.memory {human(needed)} (used {human(used)}, "
                f"{replicas} pod(s) + {surge} surge at {format_bytes(new)}) but the namespace "
                f"ResourceQuota allows {human(bounds.quota_hard)}: refused")


__all__ = ["CENSORED_PCT", "LEAK_CLIMB_PCT_PER_MIN", "LIMIT_STEP", "NEAR_LIMIT_PCT", "Bounds",
           "Cause", "OomEvidence", "OomParameters", "OomVerdict", "check_limit", "classify",
           "climb_rate", "oom_parameters", "propose_limit"]
