"""The decisions of ``incident/disk_space``, as pure functions: time to full, the proposed size
and the guard rails of an expansion.

**Time to full** is a least-squares line through the used bytes since the last step change (a
jump of at least :data:`STEP_JUMP_PCT` of the capacity between two samples — a restore, a bulk
upload — after which the old slope says nothing), extrapolated to the capacity.
**The proposed size** puts today's usage at :data:`TARGET_PCT` of the new size (whole GiB), at
least one GiB more than now. **An expansion** is refused when the StorageClass does not allow it
(``allowVolumeExpansion``), and a PVC never shrinks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from noa_lib.errors import ParameterError, UnsafeActionRefused
from noa_lib.ops.names import validate_name
from noa_lib.ops.promql_render import parse_duration
from noa_lib.ops.resources.quantity import GI, format_bytes, parse_bytes, round_up

TARGET_PCT = 70.0
WARNING_PCT = 80.0
CRITICAL_PCT = 90.0
STEP_JUMP_PCT = 5.0
MIN_FIT_POINTS = 3


@dataclass(frozen=True)
class DiskParameters:
    """Validated parameters of ``incident/disk_space`` (``grow_to`` in bytes, ``None``:
    proposed)."""

    pvc: str
    window: str
    window_s: float
    grow_to: float | None


def disk_parameters(*, pvc: str, window: str, grow_to: str) -> DiskParameters:
    """Check the runbook's parameters before anything is read or changed.

    Raises:
        ParameterError: naming the parameter and what is accepted.
    """
    validate_name(pvc, "pvc", "subdomain")
    try:
        seconds = parse_duration(window)
    except ParameterError as exc:
        raise ParameterError(str(exc), name="window", accepted=exc.accepted) from None
    size = parse_bytes(grow_to, "grow_to") if grow_to else None
    return DiskParameters(pvc, window, seconds, size)


@dataclass(frozen=True)
class TimeToFull:
    """The linear fit: bytes per second, when the volume is full (``None``: not growing)."""

    rate_bytes_s: float | None
    seconds: float | None
    full_at: datetime | None
    fit_from: float | None  # unix time of the first point fitted
    points: int

    def describe(self) -> str:
        if self.rate_bytes_s is None:
            return "not enough samples since the last step change to fit a trend"
        if self.seconds is None or self.full_at is None:
            return f"not growing ({self.rate_bytes_s / 2**20 * 3600:+.0f} MiB/h)"
        return (f"full in {_human_duration(self.seconds)} at {self.full_at:%Y-%m-%d %H:%M} UTC "
                f"(growing {self.rate_bytes_s / 2**20 * 3600:.0f} MiB/h)")


def last_steady(points: Sequence[tuple[float, float]], capacity: float
                ) -> list[tuple[float, float]]:
    """The points after the last jump of at least :data:`STEP_JUMP_PCT` of ``capacity``."""
    ordered = sorted(points)
    start = 0
    for i in range(1, len(ordered)):
        if abs(ordered[i][1] - ordered[i - 1][1]) >= capacity * STEP_JUMP_PCT / 100.0:
            start = i
    return ordered[start:]


def time_to_full(points: Sequence[tuple[float, float]], capacity: float, now: float
                 ) -> TimeToFull:
    """Fit ``(unix time, used bytes)`` since the last step change and extrapolate to
    ``capacity``."""
    steady = last_steady(points, capacity)
    if len(steady) < MIN_FIT_POINTS or steady[-1][0] - steady[0][0] <= 0:
        return TimeToFull(None, None, None, steady[0][0] if steady else None, len(steady))
    n = len(steady)
    mean_t = sum(t for t, _ in steady) / n
    mean_v = sum(v for _, v in steady) / n
    var = sum((t - mean_t) ** 2 for t, _ in steady)
    rate = sum((t - mean_t) * (v - mean_v) for t, v in steady) / var
    if rate <= 0:
        return TimeToFull(rate, None, None, steady[0][0], n)
    level = mean_v + rate * (now - mean_t)
    seconds = max(0.0, (capacity - level) / rate)
    full_at = datetime.fromtimestamp(now, UTC) + timedelta(seconds=seconds)
    return TimeToFull(rate, seconds, full_at, steady[0][0], n)


def propose_size(*, used: float, capacity: float, grow_to: float | None) -> float:
    """``grow_to`` when given, else the size putting ``used`` at :data:`TARGET_PCT`."""
    if grow_to is not None:
        return grow_to
    return max(round_up(used / (TARGET_PCT / 100.0), GI), round_up(capacity, GI) + GI)


def check_expansion(*, pvc: str, storage_class: str, allows: bool | None, current: float,
                    new: float) -> None:
    """Refuse an expansion the StorageClass does not allow, and any shrink.

    Raises:
        UnsafeActionRefused: naming the PVC, its class and the sizes.
    """
    if new <= current:
        raise UnsafeActionRefused(
            f"PVC {pvc} is {format_bytes(current)}; {format_bytes(new)} would not grow it — a "
            "PersistentVolumeClaim can never shrink: refused (set grow_to above the current "
            "size, or leave it empty for the proposal)")
    if not allows:
        raise UnsafeActionRefused(
            f"PVC {pvc}: its StorageClass {storage_class or '(none)'} does not allow volume "
            "expansion (allowVolumeExpansion is not true): refused — free space instead (the "
            "cleanup candidates) or migrate the data to a larger volume of an expandable class")


def _human_duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


__all__ = ["CRITICAL_PCT", "TARGET_PCT", "WARNING_PCT", "DiskParameters", "TimeToFull",
           "check_expansion", "disk_parameters", "last_steady", "propose_size", "time_to_full"]
