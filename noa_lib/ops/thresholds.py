"""NOA Server's operating thresholds, from the runbooks' "Normal operating ranges" table.

One place for every bound a check compares against. ``higher_is_worse`` tells the direction:
error rate is bad when high, cache hit rate is bad when low.
"""

from __future__ import annotations

from dataclasses import dataclass

from noa_lib.ops.findings import Status


@dataclass(frozen=True)
class Threshold:
    """Warning and critical bounds of one metric (normal is better than ``warning``)."""

    metric: str
    warning: float
    critical: float
    unit: str
    higher_is_worse: bool = True

    def classify(self, value: float) -> Status:
        """``ok``, ``warning`` or ``critical`` for ``value`` (reaching a bound counts)."""
        if self.higher_is_worse:
            if value >= self.critical:
                return Status.CRITICAL
            if value >= self.warning:
                return Status.WARNING
            return Status.OK
        if value <= self.critical:
            return Status.CRITICAL
        if value <= self.warning:
            return Status.WARNING
        return Status.OK

    def describe(self) -> str:
        op = ">=" if self.higher_is_worse else "<="
        unit = self.unit
        return f"warning {op} {self.warning:g}{unit}, critical {op} {self.critical:g}{unit}"


THRESHOLDS: dict[str, Threshold] = {
    t.metric: t
    for t in (
        Threshold("error_rate", 2.0, 5.0, "%"),
        Threshold("latency_p95", 1.0, 2.0, "s"),
        Threshold("db_connections", 70.0, 90.0, "%"),  # percent of max_connections
        Threshold("cache_hit_rate", 60.0, 40.0, "%", higher_is_worse=False),
        Threshold("cpu", 70.0, 90.0, "%"),
        Threshold("memory", 80.0, 95.0, "%"),
        Threshold("queue_depth", 500, 1000, ""),
    )
}


def threshold(metric: str) -> Threshold:
    """The threshold of ``metric``; raises ``KeyError`` naming the known metrics."""
    try:
        return THRESHOLDS[metric]
    except KeyError:
        raise KeyError(f"no threshold for {metric!r}; known: {sorted(THRESHOLDS)}") from None


__all__ = ["THRESHOLDS", "Threshold", "threshold"]
