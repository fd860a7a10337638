"""The real-cause framework: effects as JSON, observed effects in the world file, switching
causes (exactly what one created is removed)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from noa_sandbox import causes
from noa_sandbox.layout import Layout
from noa_sandbox.simulator.observing import layout_of, publish
from noa_sandbox.simulator.scenarios import SCENARIOS, Effects
from noa_sandbox.simulator.spec import read_spec, update_spec


def test_effects_round_trip_through_json() -> None:
    for scenario in SCENARIOS.values():
        assert Effects.from_json(scenario.effects.to_json()) == scenario.effects
    assert Effects().to_json() == {} and Effects().empty
    with pytest.raises(ValueError, match="unknown effects: colour"):
        Effects.from_json({"colour": "red"})
    with pytest.raises(ValueError, match="error_5xx"):
        Effects.from_json({"error_5xx": {"api": "lots"}})


def test_observed_effects_join_the_scenario_and_survive_the_world_file(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.simulator_dir.mkdir()
    update_spec(layout.world_file, lambda s: s)
    assert layout_of(layout.world_file) == layout
    assert layout_of(tmp_path / "elsewhere.json") is None
    seen = Effects(pool_full=frozenset({"api"}))
    publish(layout.world_file, seen, 1000.0)
    spec = read_spec(layout.world_file)
    assert spec.observed == seen and spec.observed_since == 1000.0
    assert spec.effects.pool_full == {"api"}
    publish(layout.world_file, seen, 2000.0)  # unchanged: the time it began stays
    assert read_spec(layout.world_file).observed_since == 1000.0
    publish(layout.world_file, Effects(), 3000.0)
    assert read_spec(layout.world_file).effects == SCENARIOS["normal"].effects


def test_switch_removes_exactly_what_the_previous_cause_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = Layout(tmp_path)
    made: list[str] = []
    removed: list[Mapping[str, Any]] = []

    def create(_: Layout) -> dict[str, Any]:
        made.append("sessions")
        return {"pids": [41, 42]}

    monkeypatch.setitem(causes.CAUSES, "pool-exhausted",
                        causes.Cause("pool-exhausted", "held sessions", create,
                                     lambda _, what: removed.append(what)))
    assert causes.switch(layout, "pool-exhausted") == {"pids": [41, 42]}
    assert causes.created(layout)["scenario"] == "pool-exhausted"
    assert causes.switch(layout, "normal") == {}
    assert removed == [{"pids": [41, 42]}] and not causes.causes_file(layout).exists()
    causes.clear(layout)  # nothing left to remove
    assert len(removed) == 1 and made == ["sessions"]


def test_a_failing_observer_contributes_nothing() -> None:
    def broken() -> Effects:
        raise ConnectionError("postgres restarting")

    seen = causes.observe([broken, lambda: Effects(ai_down="openai")])
    assert seen == Effects(ai_down="openai")
