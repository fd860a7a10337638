"""The ddos flood as an api pod's request log sees it (:mod:`.podlogs`): during one second, the
flood's share of the requests (its keys' requests per second against the api's modelled traffic),
how much busier the log gets, each key's weight and the share of its requests answered 429 above
the per-key rate limit (:func:`noa_sandbox.simulator.model.flood_split`)."""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass

from noa_sandbox.simulator import catalog, model
from noa_sandbox.simulator.scenarios import Effects


@dataclass(frozen=True)
class Flood:
    """The ddos flood as an api pod's log sees it during one second: its share of the requests,
    its keys' weights and the share of each key's requests rejected (429)."""

    share: float
    lines_factor: float
    keys: tuple[int, ...]
    cumulative: tuple[float, ...]
    rejected_share: dict[int, float]

    @classmethod
    def of(cls, effects: Effects, s: int, epoch: float) -> Flood | None:
        if not effects.flood_rps:
            return None
        normal = catalog.PEAK_RPS["api"] * max(float(model.load(float(s), epoch)), 0.01)
        offered = {int(k): v for k, v in effects.flood_rps.items() if v > 0}
        total = sum(offered.values())
        if total <= 0:
            return None
        split = model.flood_split(effects)
        return cls(
            share=total / (normal + total),
            lines_factor=min((normal + total) / normal, 4.0),
            keys=tuple(offered),
            cumulative=tuple(itertools.accumulate(offered.values())),
            rejected_share={k: split[str(k)][1] / v for k, v in offered.items()},
        )

    def pick(self, rng: random.Random) -> int:
        """One of the flood's keys, by its share of the flood."""
        at = bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])
        return self.keys[min(at, len(self.keys) - 1)]


__all__ = ["Flood"]
