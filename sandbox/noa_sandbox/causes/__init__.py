"""Real causes for the sandbox's scenarios: state a mitigation can change, as in production.

A scenario with a :class:`Cause` is not an effect switched on in the simulator: ``noa sandbox
scenario NAME`` *creates* real state (sessions held open in PostgreSQL, a release rolled out, a
ConfigMap value, a PVC filled…) and the simulated NOA Server **observes** that state (its
:data:`OBSERVERS`, polled by the simulator every :data:`OBSERVE_S` seconds) and behaves
accordingly — its pool gauge follows ``pg_stat_activity``, its AI calls follow the ConfigMap's
primary provider. So a mitigation that changes the state (terminates the sessions, switches the
provider) cures the symptom the way it would in production, whatever the scenario's name says.

What a cause created is kept in ``<state>/causes.json``; switching to another scenario (``normal``
included) and ``noa sandbox down`` remove exactly that, nothing else. Observed effects reach every
sandbox process through the world file (:attr:`~noa_sandbox.simulator.spec.WorldSpec.observed`).

A cause module defines ``CAUSE`` (a :class:`Cause`) and/or ``observer(layout)`` and is listed in
:data:`CAUSES` / :data:`OBSERVERS` below.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from noa_sandbox.layout import Layout
from noa_sandbox.simulator.scenarios import Effects

log = logging.getLogger(__name__)

OBSERVE_S = 2.0
"""How often the simulator observes the real state (seconds)."""

Observer = Callable[[], Effects]
"""Reads real state once and says which effects it implies (``Effects()``: none)."""
ObserverFactory = Callable[[Layout], Observer | None]
"""Builds an observer for the sandbox in ``layout`` (``None``: nothing to observe there)."""


@dataclass(frozen=True)
class Cause:
    """How scenario ``scenario`` is caused: ``create`` makes the real state and returns what it
    made (JSON-ready, kept in ``causes.json``); ``remove`` undoes exactly that (it must tolerate
    state a mitigation already changed or removed)."""

    scenario: str
    summary: str
    create: Callable[[Layout], dict[str, Any]]
    remove: Callable[[Layout, Mapping[str, Any]], None]


CAUSES: dict[str, Cause] = {}
"""Scenario name -> its real cause (scenarios without one stay simulated effects)."""
OBSERVERS: list[ObserverFactory] = []
"""What the simulator observes, whatever the scenario."""


def register(cause: Cause | None = None, observer: ObserverFactory | None = None) -> None:
    """Add a cause and/or an observer factory (called by each cause module on import)."""
    if cause is not None:
        CAUSES[cause.scenario] = cause
    if observer is not None and observer not in OBSERVERS:
        OBSERVERS.append(observer)


def _load() -> None:
    """Import the cause modules (each registers itself)."""
    # one line per cause module: from noa_sandbox.causes import <module>  # noqa: F401
    from noa_sandbox.causes import (  # noqa: F401
        ai_provider,
        bad_release,
        ddos,
        disk,
        oom,
        pg_sessions,
    )


def causes_file(layout: Layout) -> Path:
    return layout.root / "causes.json"


def created(layout: Layout) -> dict[str, Any]:
    """What the current scenario's cause created (``{}`` when nothing)."""
    try:
        data = json.loads(causes_file(layout).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def switch(layout: Layout, scenario: str) -> dict[str, Any]:
    """Remove what the previous scenario's cause created, then create ``scenario``'s cause.

    Returns:
        What the new cause created (``{}`` for scenarios without a cause).
    Raises:
        Exception: the new cause could not be created (what it made is removed again first).
    """
    _load()
    clear(layout)
    cause = CAUSES.get(scenario)
    if cause is None:
        return {}
    made = cause.create(layout)
    _write(layout, {"scenario": scenario, "created": made})
    return made


def clear(layout: Layout) -> None:
    """Remove what the current cause created (``noa sandbox down`` and every switch)."""
    _load()
    current = created(layout)
    cause = CAUSES.get(str(current.get("scenario", "")))
    if cause is not None:  # a failure raises and keeps the file: it says what is still there
        cause.remove(layout, current.get("created") or {})
    causes_file(layout).unlink(missing_ok=True)


def observers(layout: Layout) -> list[Observer]:
    """Every observer for the sandbox in ``layout``."""
    _load()
    out = []
    for factory in OBSERVERS:
        built = factory(layout)
        if built is not None:
            out.append(built)
    return out


def observe(observing: list[Observer]) -> Effects:
    """The effects all observers see now (one that fails contributes nothing, logged)."""
    total = Effects()
    for observer in observing:
        try:
            total = total.merged(observer())
        except Exception:  # noqa: BLE001 - a backend restarting must not stop the simulator
            log.warning("observer %s failed", getattr(observer, "__name__", observer),
                        exc_info=True)
    return total


def _write(layout: Layout, data: dict[str, Any]) -> None:
    path = causes_file(layout)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


__all__ = ["CAUSES", "OBSERVERS", "OBSERVE_S", "Cause", "Observer", "ObserverFactory", "clear",
           "created", "observe", "observers", "register", "switch"]
