"""incident/post_incident_review and incident/oncall_handoff through the runner on the sandbox:
a run linked to an incident, the review's record and draft beside it, the handoff reading both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from noa_lib.records.incidents import IncidentStore
from noa_lib.records.runner import ExitCode, RunRequest, run

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration]


@pytest.fixture
def project_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOA_CONFIG", str(ROOT / "noa.toml"))
    monkeypatch.delenv("NOA_NOTEBOOKS_DIR", raising=False)
    monkeypatch.delenv("NOA_TARGET", raising=False)


def test_review_then_handoff_through_the_runner(sandbox_target, project_config, reports_dir: Path):
    store = IncidentStore(reports_dir)
    reviewed = store.open(title="API 5xx", severity="P1", commander="ana")
    store.update(reviewed.id, status="investigating", by="ana")
    check = run(RunRequest("monitoring/connectivity_check", {}, target="sandbox",
                           incident=reviewed.id))
    assert check.exit_code == ExitCode.SUCCEEDED, check.message
    store.update(reviewed.id, status="mitigated", by="ana")
    store.resolve(reviewed.id, by="ana")
    still_open = store.open(title="disk filling", severity="P2", commander="bo")

    review = run(RunRequest("incident/post_incident_review", {
        "incident": reviewed.id,
        "action_items": "alert per endpoint | ana | 2020-01-31, pool runbook | bo | 2099-01-31",
    }, target="sandbox"))
    meta = review.metadata
    assert review.exit_code == ExitCode.SUCCEEDED, meta.get("error")
    figures = meta["outcome"]["figures"]
    assert figures["incident"] == reviewed.id and figures["runs"] == 1
    assert figures["events"] == len(store.get(reviewed.id).history) + 2 + sum(
        1 for f in check.metadata["outcome"]["findings"] if f["status"] != "ok")
    assert figures["mttd_s"] == 0 and figures["mttr_s"] is not None and figures["mttr_s"] >= 0
    assert figures["action_items_open"] == 2
    draft = Path(review.record).with_suffix(".md")
    assert figures["draft"] == draft.name and draft.is_file()
    text = draft.read_text()
    assert f"# Post-mortem: {reviewed.id} — API 5xx" in text
    assert f"| monitoring/connectivity_check | {check.run_id} |" in text
    assert "| alert per endpoint | ana | 2020-01-31 | open |" in text
    shown = json.dumps(json.loads(Path(review.record).read_text())["cells"])
    assert "## Action items" in shown  # the draft is shown in the notebook too

    handoff = run(RunRequest("incident/oncall_handoff", {"shift_hours": "1"}, target="sandbox"))
    assert handoff.exit_code == ExitCode.SUCCEEDED, handoff.metadata.get("error")
    outcome = handoff.metadata["outcome"]
    assert outcome["figures"]["open_incidents"] == 1
    assert outcome["figures"]["open_action_items"] == 2
    assert outcome["figures"]["overdue_action_items"] == 1
    found = {f["check"]: f for f in outcome["findings"]}
    assert found["open incidents"]["evidence"]["incidents"] == [still_open.id]  # not the resolved
    assert "alert per endpoint" in found["action items"]["message"]
    assert found["alerts in window"]["status"] in ("ok", "warning")  # Prometheus answered
    assert "unreachable" not in found["alerts in window"]["message"]
