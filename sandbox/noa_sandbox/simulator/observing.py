"""The simulator's eye on real state: polls :mod:`noa_sandbox.causes`' observers and writes what
they see into the world file's ``observed`` effects (only when it changed), so every sandbox
process — the simulator's metrics, the cluster's pods and logs — follows the real state."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path

from noa_sandbox.causes import OBSERVE_S, Observer, observe, observers
from noa_sandbox.layout import Layout
from noa_sandbox.simulator.scenarios import Effects
from noa_sandbox.simulator.spec import WorldSpec, update_spec

log = logging.getLogger(__name__)


def layout_of(world_file: Path) -> Layout | None:
    """The sandbox layout a world file belongs to (``None`` for a world file elsewhere)."""
    layout = Layout(world_file.parent.parent)
    return layout if layout.world_file == world_file else None


def publish(world_file: Path, seen: Effects, now: float) -> WorldSpec:
    """Write ``seen`` as the world's observed effects (``observed_since`` moves only when they
    change)."""
    def change(spec: WorldSpec) -> WorldSpec:
        if spec.observed == seen:
            return spec
        return replace(spec, observed=seen, observed_since=now)
    return update_spec(world_file, change)


class ObservingThread(threading.Thread):
    """Polls the observers every :data:`~noa_sandbox.causes.OBSERVE_S` seconds until stopped."""

    def __init__(self, world_file: Path, stop: threading.Event,
                 interval: float = OBSERVE_S) -> None:
        super().__init__(name="observing", daemon=True)
        self.world_file = world_file
        self.stop = stop
        self.interval = interval
        layout = layout_of(world_file)
        self.observing: list[Observer] = [] if layout is None else observers(layout)
        self.last: Effects | None = None

    def run(self) -> None:
        while not self.stop.is_set():
            seen = observe(self.observing)
            if seen != self.last:
                try:
                    publish(self.world_file, seen, time.time())
                    self.last = seen
                except (OSError, ValueError, TimeoutError):
                    log.warning("could not write the observed effects", exc_info=True)
            self.stop.wait(self.interval)


__all__ = ["ObservingThread", "layout_of", "publish"]
