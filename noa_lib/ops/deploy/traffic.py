"""Traffic split by replica ratio: the canary steps (pure).

Behind a Service selecting both tracks, traffic splits over Ready pods, so a canary's share is
its replicas over all replicas. At weight ``w`` of ``total`` replicas the canary gets
``max(1, round(total * w / 100))`` (halves up, never more than ``total``) and stable the rest.
With few replicas a requested weight is coarse — 10 % of 3 replicas is really 33 % — so every
step shows requested and effective weight, and ``total_replicas`` may surge above the stable's
replica count for finer steps. (An ingress-controller canary weight is not used: the sandbox
routes traffic by Service endpoints only, so it could not be tested.)
"""

from __future__ import annotations

from dataclasses import dataclass

from noa_lib.errors import ParameterError


@dataclass(frozen=True)
class TrafficStep:
    """One canary step: requested weight, replicas of each track, and the weight that gives."""

    index: int  # 1-based
    weight: int  # requested %
    canary: int
    stable: int

    @property
    def effective(self) -> float:
        """The canary's real share of traffic in % (replica ratio)."""
        total = self.canary + self.stable
        return round(100.0 * self.canary / total, 1) if total else 0.0

    @property
    def label(self) -> str:
        return f"step {self.index} ({self.weight} %)"

    def note(self, previous: TrafficStep | None = None) -> str:
        """A sentence when the effective weight differs from the requested one."""
        notes = []
        if abs(self.effective - self.weight) >= 0.5:
            notes.append(f"requested {self.weight} % is really {self.effective:g} % with "
                         f"{self.canary} of {self.canary + self.stable} replicas")
        if previous is not None and (previous.canary, previous.stable) == (self.canary,
                                                                            self.stable):
            notes.append("same split as the previous step (raise total_replicas for finer steps)")
        return "; ".join(notes)


def traffic_steps(weights: tuple[int, ...], total: int) -> tuple[TrafficStep, ...]:
    """The replica split for every weight (``total`` replicas in all at every step).

    Raises:
        ParameterError: ``total`` below 2 (a canary beside stable needs two pods).
    """
    if isinstance(total, bool) or not isinstance(total, int) or total < 2:
        raise ParameterError(f"total_replicas={total!r} must be 2 or more for a canary beside "
                             "stable", name="total_replicas", accepted="a whole number >= 2")
    steps = []
    for i, weight in enumerate(weights, start=1):
        canary = min(total, max(1, int(total * weight / 100 + 0.5)))  # half rounds up
        steps.append(TrafficStep(i, weight, canary, total - canary))
    return tuple(steps)


__all__ = ["TrafficStep", "traffic_steps"]
