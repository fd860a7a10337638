"""End to end: scenario → Prometheus rule fires → Alertmanager → ``noa alerts serve`` → record.

A private sandbox (its own PostgreSQL, S3, simulator, Prometheus and Alertmanager; the project's
sandbox is left alone) loads NOA's alert rules with every ``for:`` shortened to 1 s and routes
alerts to a receiver started here. Switching the simulated NOA Server to ``error-spike`` fires
``HighErrorRate`` (P1) for the api: the receiver must leave an ``incident/triage`` record in the
incident the group opened, naming the rollback's runbook first; an alert joining the group later
joins that incident.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import noa_sandbox as sandbox
from noa_lib.ops.alert_rules import rules_yaml
from noa_lib.records.alert_dispatch import DispatchSettings
from noa_lib.records.alerts_server import AlertsServer, ServerSettings, serve
from noa_lib.records.catalog import Catalog
from noa_sandbox import scenarios

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 240.0
"""From the scenario switch to a finished record: ~50 s for the 5-minute error ratio to cross
5 %, seconds for rule evaluation and Alertmanager, ~10-30 s for the run on a busy machine."""


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, Any]]:
    root = Path(tempfile.mkdtemp(prefix="noa-alerts-e2e-"))
    root.chmod(0o755)
    state = root / "state"
    rules = root / "alerts_fast.yml"
    rules.write_text(rules_yaml(for_override="1s"))
    reports = root / "reports"
    config = root / "noa.toml"
    config.write_text(f'default_target = "sandbox"\ninclude = ["{state}/target.toml"]\n')
    mp = pytest.MonkeyPatch()
    mp.setenv("NOA_SANDBOX_ALERT_RULES", str(rules))
    mp.setenv("NOA_CONFIG", str(config))
    mp.setenv("NOA_NOTEBOOKS_DIR", str(ROOT / "notebooks"))
    mp.setenv("NOA_REPORTS_DIR", str(reports))
    mp.delenv("NOA_TARGET", raising=False)
    server: AlertsServer = serve(
        ServerSettings("127.0.0.1", 0, None,
                       dispatch=DispatchSettings(max_concurrent=2, reports_dir=reports,
                                                 cell_timeout=300)),
        catalog=Catalog(ROOT / "notebooks"),
    )
    server.start()
    try:
        status = sandbox.up(state, with_alertmanager=True, alert_webhook=f"{server.url}/alerts",
                            load_data=False, progress=lambda line: print(f"[e2e] {line}"))
        assert status.healthy, status.to_dict()
        yield {"state": state, "server": server, "reports": reports}
    finally:
        server.stop(timeout=60)
        try:
            sandbox.down(state)
        finally:
            mp.undo()
            shutil.rmtree(root, ignore_errors=True)


def _records(reports: Path, runbook: str = "incident/triage") -> list[dict[str, Any]]:
    found = []
    for path in (reports / runbook).glob("*.ipynb"):
        found.append(json.loads(path.read_text())["metadata"]["noa"])
    return found


def _alerts(reports: Path) -> list[dict[str, Any]]:
    return [m for m in _records(reports) if m["parameters"].get("alert_name") == "HighErrorRate"]


def _wait(check, what: str, server: AlertsServer, deadline_s: float) -> Any:
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        found = check()
        if found:
            return found
        time.sleep(2)
    pytest.fail(f"{what} within {deadline_s:g} s; receiver {server.dispatcher.stats()}")


def _join_group(server: AlertsServer, group_key: str, first: dict[str, Any]) -> None:
    """What Alertmanager sends when another alert joins a notified group: the group's webhook
    again (same ``groupKey``), now with the new alert beside the first."""
    labels = json.loads(first["parameters"]["labels"])
    later = {**labels, "service": "web"}
    alerts = [
        {"status": "firing", "labels": lab, "annotations": {"summary": "High 5xx error rate"},
         "startsAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
         "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph",
         "fingerprint": fingerprint}
        for lab, fingerprint in ((labels, first["trigger"]["fingerprint"]),
                                 (later, "0123456789abcdef"))]
    body = json.dumps({"version": "4", "status": "firing", "receiver": "noa-runbooks",
                       "groupKey": group_key, "groupLabels": {"alertname": "HighErrorRate"},
                       "commonLabels": {"alertname": "HighErrorRate"}, "commonAnnotations": {},
                       "externalURL": "http://alertmanager", "alerts": alerts}).encode()
    request = urllib.request.Request(f"{server.url}/alerts", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200, answer.status


def test_an_error_spike_leaves_triage_records_in_one_incident(stack):
    """error-spike (a bad release rolled out to the api) → HighErrorRate (P1) → Alertmanager →
    the receiver → an incident/triage record carrying the incident, naming the rollback's
    runbook; a second alert of the same group joins that incident."""
    server: AlertsServer = stack["server"]
    started = time.monotonic()
    scenarios.set_scenario(stack["state"], "error-spike")
    first = _wait(lambda: _alerts(stack["reports"]), "no HighErrorRate triage record", server,
                  DEADLINE_S)[0]
    print(f"[e2e] scenario → triage record in {time.monotonic() - started:.1f} s")
    from noa_lib.records.incidents import IncidentStore

    incident = IncidentStore(stack["reports"]).get(first["incident"])
    assert incident.severity in ("P0", "P1") and incident.status == "detected"
    assert incident.group_keys and "HighErrorRate" in incident.group_keys[0]
    _join_group(server, incident.group_keys[0], first)
    def two() -> list[dict[str, Any]] | None:
        found = _alerts(stack["reports"])
        return found if len(found) >= 2 else None

    hits = _wait(two, "no second triage record", server, 120)
    for record in hits:
        assert record["trigger"]["kind"] == "alert" and record["trigger"]["fingerprint"]
        assert record["status"] == "succeeded", record.get("error")
        labels = json.loads(record["parameters"]["labels"])
        assert labels["alertname"] == "HighErrorRate" and labels["severity"] == "P1"
        assert record["target"] == "sandbox"
        figures = record["outcome"]["figures"]
        assert figures["likely_cause"] == "incident/high_error_rate", figures
        assert figures["severity"] in ("P0", "P1"), figures
        # the incident's id reached the notebook, and the command to run next carries it
        assert record["parameters"]["incident"] == record["incident"]
        assert f"--incident {record['incident']}" in figures["cause_1_command"]
    # one Alertmanager group → one incident: the later alert joined it
    assert {r["incident"] for r in hits} == {incident.id}
    joined = IncidentStore(stack["reports"]).get(incident.id)
    assert {r["run_id"] for r in hits} <= {r["run_id"] for r in joined.records}
    # Alertmanager repeats the group; the receiver keeps one run per fingerprint
    fingerprints = [m["trigger"]["fingerprint"] for m in _records(stack["reports"])]
    assert len(fingerprints) == len(set(fingerprints))


def test_monitoring_sees_alertmanager_and_the_firing_alert(stack):
    from noa_lib.config import load_config
    from noa_lib.ops.alert_history import recent_alerts
    from noa_lib.ops.findings import Status
    from noa_lib.ops.monitoring_stack import monitoring_stack

    target = load_config().target("sandbox")  # the private sandbox (NOA_CONFIG of the fixture)
    assert target.prometheus is not None and target.prometheus.alertmanager_url
    checks = {f.check: f for f in monitoring_stack(target).findings}
    assert checks["alertmanager"].status is Status.OK, checks["alertmanager"].message
    assert checks["alert delivery"].status is Status.OK, checks["alert delivery"].message
    assert checks["rule evaluation"].status is Status.OK
    history = recent_alerts(target, window="1h")
    summary, manager = history.findings
    assert manager.status is Status.OK
    assert summary.status is Status.WARNING and "HighErrorRate (P1)" in summary.message
    assert "HighErrorRate" in {e.alertname for e in history.episodes}
    assert {"prometheus", "alertmanager"} <= {a.source for a in history.active}
    from noa_lib.show.monitoring import EPISODE_COLUMNS, show_active_alerts, show_alert_episodes

    episodes = show_alert_episodes(history)
    assert list(episodes.columns) == EPISODE_COLUMNS
    assert "HighErrorRate" in set(episodes["alertname"])
    assert str(episodes["started"].dt.tz) == "UTC"
    assert {"prometheus", "alertmanager"} <= set(show_active_alerts(history)["source"])
