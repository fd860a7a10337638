"""An incident's timeline: its history and its records' runs, findings and changes, by time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from noa_lib.records.incident_timeline import incident_timeline, merge_timeline
from noa_lib.records.incidents import IncidentStore
from noa_lib.records.index import RecordIndex
from noa_lib.records.redaction import Redactor


def record(run_id: str, runbook: str, started: str, ended: str, *, timeline=(), findings=(),
           status="succeeded", outcome="ok") -> dict:
    """A record's ``metadata.noa`` as the runner writes it."""
    return {
        "run_id": run_id, "runbook": runbook, "started_at": started, "ended_at": ended,
        "status": status, "operator": "ana@laptop", "incident": "INC-20261204-0231",
        "outcome": {"status": outcome, "summary": f"{runbook} done",
                    "findings": [dict(f) for f in findings]},
        "timeline": [dict(t) for t in timeline],
        "record": {"ipynb": f"{runbook}/20261204T023500Z_{run_id}.ipynb"},
    }


TRIAGE = record(
    "aaa111", "incident/high_error_rate", "2026-12-04T02:35:00.000000Z",
    "2026-12-04T02:36:10.000000Z", outcome="critical",
    findings=[{"check": "error rate", "status": "critical", "message": "7 % of requests fail"},
              {"check": "pods ready", "status": "ok", "message": "3/3"}],
)
ROLLBACK = record(
    "bbb222", "deployment/rollback", "2026-12-04T02:40:00.000000Z",
    "2026-12-04T02:44:00.000000Z",
    timeline=[{"kind": "dry-run", "at": "2026-12-04T02:40:30.000000Z", "summary": "plan v2.2"},
              {"kind": "change-applied", "at": "2026-12-04T02:42:00.000000Z",
               "summary": "deployment/noa/api image v2.3 → v2.2"}],
)
INCIDENT = {
    "id": "INC-20261204-0231", "detected_at": "2026-12-04T02:31:00.000000Z",
    "history": [
        {"at": "2026-12-04T02:31:05.000000Z", "by": "alertmanager", "action": "opened",
         "after": "P1"},
        {"at": "2026-12-04T02:36:10.000000Z", "by": "ana", "action": "status",
         "before": "detected", "after": "investigating"},
        {"at": "2026-12-04T02:41:00.000000Z", "by": "ana", "action": "severity",
         "before": "P1", "after": "P0", "reason": "payments down"},
        {"at": "2026-12-04T02:45:00.000000Z", "by": "ana", "action": "status",
         "before": "investigating", "after": "mitigated", "text": "v2.2 serves"},
    ],
}


def test_merge_orders_history_runs_findings_and_changes_by_time():
    events = merge_timeline(INCIDENT, [ROLLBACK, TRIAGE])  # record order does not matter
    got = [(e.as_dict()["at"][11:19], e.kind, e.run_id) for e in events]
    assert got == [
        ("02:31:05", "opened", None),
        ("02:35:00", "run-started", "aaa111"),
        ("02:36:10", "status", None),  # same instant: incident event first
        ("02:36:10", "finding", "aaa111"),
        ("02:36:10", "run-ended", "aaa111"),
        ("02:40:00", "run-started", "bbb222"),
        ("02:40:30", "dry-run", "bbb222"),
        ("02:41:00", "severity", None),
        ("02:42:00", "change-applied", "bbb222"),
        ("02:44:00", "run-ended", "bbb222"),
        ("02:45:00", "status", None),
    ]
    by_kind = {e.kind: e for e in events}
    assert by_kind["finding"].text == "critical: error rate — 7 % of requests fail"  # ok left out
    assert by_kind["change-applied"].text == "deployment/noa/api image v2.3 → v2.2"
    assert by_kind["change-applied"].runbook == "deployment/rollback"
    assert by_kind["severity"].text == "severity P1 → P0 — payments down"
    assert by_kind["severity"].by == "ana"
    assert events[4].text == "incident/high_error_rate succeeded, outcome critical: " \
        "incident/high_error_rate done"


def test_incident_timeline_reads_linked_records_through_the_index(tmp_path: Path):
    root = tmp_path / "reports"
    store = IncidentStore(root, redactor=Redactor())
    inc = store.open(title="API 5xx", severity="P1",
                     detected=datetime(2026, 12, 4, 2, 31, tzinfo=UTC))
    meta = {**TRIAGE, "incident": inc.id}
    RecordIndex(root).add(meta)  # the index answers; no record file needed
    store.link_record(inc.id, meta)
    store.link_record(inc.id, {**ROLLBACK, "run_id": "gone99"})  # linked but never indexed
    store.link_record(inc.id, meta)  # linking twice keeps one entry
    assert [r["run_id"] for r in store.get(inc.id).records] == ["aaa111", "gone99"]
    kinds = [e.kind for e in incident_timeline(store, inc.id)]
    assert kinds == ["run-started", "finding", "run-ended", "opened", "missing-records"]
    assert [s.run_id for s in RecordIndex(root).query(incident=inc.id)] == ["aaa111"]
