"""``noa sandbox scenario NAME``: put the simulated NOA Server into a named situation.

A scenario with a real cause (:mod:`noa_sandbox.causes`) creates that state first (and
switching away removes exactly what it created); the others are effects the simulator applies.
The scenario is written to the world file (``<state>/simulator/world.json``), which the running
simulator re-reads every second; Prometheus scrapes it every 2 s, so the effect shows in queries
within ~15 s. The scenario lasts until another is set or the sandbox goes ``down`` (a crashed
simulator restarted by ``up`` keeps it). Names and what each one shows:
:func:`available` (``noa sandbox scenario --list``).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from noa_lib.errors import ParameterError, PreconditionFailed
from noa_sandbox import causes, processes
from noa_sandbox.layout import Layout, default_state_dir
from noa_sandbox.simulator.scenarios import NAMES, SCENARIOS, Scenario
from noa_sandbox.simulator.spec import WorldSpec, default_spec, read_spec, update_spec
from noa_sandbox.state import load_state


def available() -> tuple[Scenario, ...]:
    """Every scenario, ``normal`` first."""
    return tuple(SCENARIOS.values())


def validate(name: str) -> str:
    """``name`` when it is a known scenario.

    Raises:
        ParameterError: unknown name (the message lists the accepted ones).
    """
    if name not in SCENARIOS:
        accepted = ", ".join(NAMES)
        raise ParameterError(
            f"unknown scenario {name!r}; accepted: {accepted}", name="scenario", accepted=accepted
        )
    return name


def current(state_dir: Path | None = None) -> WorldSpec | None:
    """The world file of the sandbox in ``state_dir``, or ``None`` when there is none (or it is
    unreadable)."""
    layout = Layout(state_dir if state_dir is not None else default_state_dir())
    if not layout.world_file.is_file():
        return None
    try:
        return read_spec(layout.world_file)
    except (OSError, ValueError):
        return None


def set_scenario(state_dir: Path | None, name: str, *, now: float | None = None) -> WorldSpec:
    """Switch the simulated NOA Server to scenario ``name`` (``normal`` ends any other).

    Returns:
        The world now in force.

    Raises:
        ParameterError: unknown scenario.
        PreconditionFailed: the sandbox's simulator is not running (``noa sandbox up``).
    """
    validate(name)
    layout = Layout(state_dir if state_dir is not None else default_state_dir())
    state = load_state(layout.state_file)
    sim = state.simulator
    if sim.pid is None or not processes.is_alive(sim.pid, sim.pid_start):
        raise PreconditionFailed(
            f"the simulated NOA Server of the sandbox in {layout.root} is not running; "
            "start it with `noa sandbox up`, then set the scenario"
        )

    def broken() -> WorldSpec:  # a broken world file is replaced rather than kept
        history = state.history
        spec = default_spec()
        if history is not None and history.series > 0:
            spec = replace(spec, epoch=history.start)
        return spec

    when = time.time() if now is None else now
    causes.switch(layout, name)  # the real state first: the old cause's removed, the new made
    # locked: the sandbox cluster writes the same file (the pods that serve)
    return update_spec(
        layout.world_file, lambda spec: replace(spec, scenario=name, since=when), broken=broken
    )


__all__ = ["available", "current", "set_scenario", "validate"]
