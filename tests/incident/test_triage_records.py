"""incident_triage with what the records know, against the project sandbox's 91-day history:
triage *at* a past incident finds it (read-only: the past is in Prometheus), escalates the open
incident it belongs to (never lowers one), and names the runs that applied changes lately."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import noa_sandbox as sandbox
from noa_lib.errors import ParameterError
from noa_lib.records.incident_triage import incident_triage
from noa_lib.records.incidents import IncidentStore
from noa_lib.records.index import RecordIndex

pytestmark = pytest.mark.integration


def _past(state: Path, kind: str) -> datetime:
    history = sandbox.status(state).history
    assert history is not None
    incident = {i["kind"]: i for i in history["incidents"]}[kind]
    return datetime.fromtimestamp((incident["start"] + incident["end"]) / 2, UTC)


def test_triage_at_a_past_incident_finds_it_and_escalates_the_incident(
    sandbox_state: Path, sandbox_target, reports_dir: Path,
) -> None:
    store = IncidentStore(reports_dir)
    opened = store.open(title="errors reported by a customer", severity="P3")
    at = _past(sandbox_state, "error-spike")
    result = incident_triage(sandbox_target, incident=opened.id, window="5m", at=at.isoformat(),
                             root=reports_dir)
    assert result.at == at and result.incident == opened.id
    assert result.causes and result.causes[0].runbook == "incident/high_error_rate"
    assert result.severity.severity == "P1", result.severity.reasons
    escalated = store.get(opened.id)
    assert escalated.severity == "P1"
    change = [h for h in escalated.history if h.get("action") == "severity"][-1]
    assert change["by"] == "triage" and "triage classified P1" in change["reason"]
    # the same incident triaged at a quiet time is not lowered
    quiet = incident_triage(sandbox_target, incident=opened.id, window="5m",
                            at=at - timedelta(hours=6), root=reports_dir)
    assert quiet.severity.severity == "P3" and not quiet.causes
    assert store.get(opened.id).severity == "P1"


def test_pool_exhaustion_in_the_history_is_found(sandbox_state: Path, sandbox_target,
                                                 reports_dir: Path) -> None:
    at = _past(sandbox_state, "pool-exhausted")
    result = incident_triage(sandbox_target, window="5m", at=at, root=reports_dir)
    assert result.causes[0].runbook == "incident/db_pool_exhausted"
    assert result.figures()["likely_cause"] == "incident/db_pool_exhausted"


def test_runs_that_applied_changes_and_a_failed_backup_are_read_from_the_index(
    sandbox_target, reports_dir: Path,
) -> None:
    """A run that applied a change minutes ago shows among the recent changes, a read-only one
    does not; the newest backup run having failed is a risk (P2), not data loss."""
    now = datetime.now(UTC)
    index = RecordIndex(reports_dir)

    def add(run_id: str, runbook: str, minutes: float, status: str, timeline: list) -> None:
        at = (now - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        index.add({"run_id": run_id, "runbook": runbook, "started_at": at, "status": status,
                   "target": "sandbox", "timeline": timeline, "outcome": {"status": "ok"}})

    change = {"kind": "change-applied", "changes": [
        {"resource": "configmap/noa/noa-config", "field": "data.AI_PROVIDER_PRIMARY",
         "before": "openai", "after": "anthropic"}]}
    add("cfg111", "incident/ai_provider_failover", 12, "succeeded", [change])
    add("read22", "monitoring/connectivity_check", 5, "succeeded", [])
    add("old333", "deployment/rollback", 180, "succeeded", [change])  # outside the lookback
    add("bak444", "backup/full_backup", 30, "failed", [])
    result = incident_triage(sandbox_target, window="1m", root=reports_dir)
    listed = {r.run_id: r for r in result.changes.records}
    assert set(listed) == {"cfg111"}
    assert listed["cfg111"].changes == (
        "configmap/noa/noa-config data.AI_PROVIDER_PRIMARY: 'openai' -> 'anthropic'",)
    assert 11 <= listed["cfg111"].minutes_ago <= 13
    assert result.risks == ("the newest backup/full_backup run failed (bak444)",)
    assert result.severity.severity == "P2"
    assert "capacity risk: the newest backup/full_backup run failed (bak444)" \
        in result.severity.reasons


def test_bad_times_are_refused_before_anything_is_read(sandbox_target, reports_dir) -> None:
    with pytest.raises(ParameterError, match="at='yesterday'"):
        incident_triage(sandbox_target, at="yesterday", root=reports_dir)
    with pytest.raises(ParameterError, match="starts_at"):
        incident_triage(sandbox_target, starts_at="soon", root=reports_dir)
