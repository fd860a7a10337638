"""Automated drills, end to end on a private sandbox: every scenario's real cause is injected,
triage (run by the drill: this sandbox has no Alertmanager, so detection scores 0 here —
``tests/integration/test_alerts_e2e.py`` proves the alert → incident → triage path) names its cure
first, the cure runs with ``dry_run=False`` and verifies itself in Prometheus / the API, the
incident is resolved and the score recorded; the scenario is cleared afterwards."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import noa_sandbox as sandbox
from noa_lib.records.catalog import Catalog
from noa_lib.records.incidents import IncidentStore
from noa_lib.records.runner import RunRequest, run
from noa_sandbox.drills import CURES
from noa_sandbox.simulator.scenarios import NAMES

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PENDING = {"queue-backlog": "scaling/horizontal_scale"}
"""Scenarios whose cure belongs to a runbook not in this tree yet (scaling)."""
RESPONDER = {
    # the pool's sessions are ~25 s old when the drill responds; the guard rail's default
    # (older than 60 s) would rightly spare them
    "pool-exhausted": {"older_than_s": "10"},
}


def drillable() -> list[str]:
    catalog = Catalog(ROOT / "notebooks")
    names = []
    for scenario, cure in sorted(CURES.items()):
        if scenario in PENDING:
            continue
        catalog.get(cure)  # every other cure exists: UnknownRunbook otherwise
        names.append(scenario)
    return names


def test_every_scenario_has_a_cure_or_is_pending() -> None:
    assert set(CURES) | set(PENDING) == set(NAMES) - {"normal"}
    assert drillable()


@pytest.mark.parametrize("scenario", drillable())
def test_an_automated_drill_cures_the_scenario(scenario: str, drill_env,
                                               reports_dir: Path) -> None:
    started = time.monotonic()
    result = run(RunRequest("incident/drill", {
        "scenario": scenario, "mode": "auto", "dry_run": "false", "detect_timeout_s": "0",
        "window": "20s", "mitigation_parameters": json.dumps(RESPONDER.get(scenario, {}))},
        target="sandbox", html=False, cell_timeout=900))
    meta = json.loads(Path(str(result.record)).read_text())["metadata"]["noa"]
    figures = meta["outcome"]["figures"]
    took = time.monotonic() - started
    print(f"\n[drill] {scenario}: score {figures.get('score')} in {took:.0f} s")
    assert result.status == "succeeded", meta.get("error")
    assert figures["triaged_points"] == 25, figures
    assert figures["mitigated_points"] == 25, figures
    assert figures["resolved_points"] == 25, figures
    assert figures["score"] == 75 and figures["dry_run"] is False  # detection needs an alert
    incident = IncidentStore(reports_dir).get(figures["incident"])
    assert incident.status == "resolved"
    kinds = {e["kind"] for e in meta["timeline"]}
    assert {"drill-injected", "drill-cleared"} <= kinds
    assert sandbox.status(drill_env.state).scenario == "normal"
