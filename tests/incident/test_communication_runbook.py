"""incident/communication through the runner against the sandbox target, its sinks pointed at a
local receiver (a temporary noa.toml via NOA_CONFIG holding the sandbox target and the sinks)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from notify_receiver import receiver, sinks_toml

from noa_lib.records.incident_timeline import incident_timeline
from noa_lib.records.incidents import IncidentStore
from noa_lib.records.runner import ExitCode, RunRequest, run

pytestmark = [pytest.mark.integration, pytest.mark.notebooks]

SECRETS = {
    "NOTIFY_SLACK_URL": "slackpathsecret-e41b07",
    "NOTIFY_PD_KEY": "PDROUTINGKEY0c9d8e7f6a5b4c3d2e1f",
    "NOTIFY_SP_TOKEN": "statuspage-token-6a1f3c",
    "NOTIFY_HOOK_TOKEN": "webhook-token-b27d90",
}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def comms(sandbox_state: Path, tmp_path: Path, reports_dir: Path, monkeypatch):
    """(receiver, incident id, progress lines): the sandbox target with five sinks, one refused."""
    with receiver() as rx:
        for name, value in SECRETS.items():
            slack = name == "NOTIFY_SLACK_URL"
            monkeypatch.setenv(name, f"{rx.url}/slack/services/T0/B0/{value}" if slack else value)
        sandbox = (sandbox_state / "target.toml").read_text().replace(
            '"file:secrets/', f'"file:{sandbox_state}/secrets/')
        config = tmp_path / "noa.toml"
        config.write_text('default_target = "sandbox"\n' + sandbox + sinks_toml(
            "sandbox", rx.url, refused_url=f"http://127.0.0.1:{closed_port()}/hook"))
        monkeypatch.setenv("NOA_CONFIG", str(config))
        monkeypatch.delenv("NOA_TARGET", raising=False)
        inc = IncidentStore(reports_dir).open(title="API 5xx on /v1/chat", severity="P1",
                                              commander="ana")
        yield rx, inc.id


def record_text(result) -> str:
    texts = [Path(result.record).read_text()]
    if result.html is not None:
        texts.append(Path(result.html).read_text())
    return "\n".join(texts)


def test_dry_run_sends_nothing_and_shows_every_masked_payload(comms):
    rx, incident = comms
    lines: list[str] = []
    result = run(RunRequest("incident/communication", {"incident": incident}, target="sandbox"),
                 progress=lines.append)
    meta = result.metadata
    assert result.exit_code == ExitCode.SUCCEEDED, meta.get("error")
    assert rx.requests == []
    dry = [e for e in meta["timeline"] if e["kind"] == "dry-run"]
    assert sorted(e["sink"] for e in dry) == ["audit", "chat", "dead", "pager", "status"]
    pager = next(e for e in dry if e["sink"] == "pager")
    assert pager["body"]["routing_key"] == "***" and pager["body"]["event_action"] == "trigger"
    figures = meta["outcome"]["figures"]
    assert figures["phase"] == "detection" and figures["cadence_minutes"] == 30
    assert figures["sent"] == 0 and meta["incident"] == incident
    text = record_text(result) + "\n".join(lines)
    assert not [n for n, v in SECRETS.items() if v in text]


def test_sent_updates_land_in_the_record_and_the_incident_timeline(comms, reports_dir):
    rx, incident = comms
    lines: list[str] = []
    result = run(RunRequest("incident/communication", {"incident": incident, "dry_run": "false"},
                            target="sandbox"), progress=lines.append)
    meta = result.metadata
    assert result.exit_code == ExitCode.SUCCEEDED, meta.get("error")  # a dead sink is no crash
    assert meta["status"] == "succeeded" and meta["outcome"]["status"] == "critical"
    assert sorted({r.path.split("/")[1] for r in rx.requests}) == [
        "hook", "pagerduty", "slack", "statuspage"]
    kinds = sorted((e["kind"], e["sink"]) for e in meta["timeline"])
    assert kinds == [("notification-failed", "dead"), ("notification-sent", "audit"),
                     ("notification-sent", "chat"), ("notification-sent", "pager"),
                     ("notification-sent", "status")]
    failed = next(f for f in meta["outcome"]["findings"] if f["check"] == "notify dead")
    assert failed["status"] == "critical" and "connection refused" in failed["message"]
    assert meta["outcome"]["figures"]["failed"] == 1
    events = incident_timeline(IncidentStore(reports_dir), incident)
    assert any(e.kind == "notification-sent" and "pager" in e.text for e in events)
    assert any(e.kind == "notification-failed" for e in events)
    text = record_text(result) + "\n".join(lines)
    text += (reports_dir / "incidents" / f"{incident}.json").read_text()
    assert not [n for n, v in SECRETS.items() if v in text]

    # the incident moves on: the next update acknowledges in PagerDuty and amends the status page
    IncidentStore(reports_dir).update(incident, status="investigating", note="looking")
    IncidentStore(reports_dir).update(incident, status="mitigated", note="rolled back")
    rx.requests.clear()
    again = run(RunRequest("incident/communication",
                           {"incident": incident, "dry_run": "false", "sinks": "pager,status"},
                           target="sandbox"))
    assert again.exit_code == ExitCode.SUCCEEDED and again.metadata["outcome"]["status"] == "ok"
    (event,) = [r.json for r in rx.on("/pagerduty/")]
    assert event["event_action"] == "acknowledge" and event["dedup_key"] == incident
    (page,) = rx.on("/statuspage/")
    assert (page.method, page.path) == ("PATCH", "/statuspage/v1/pages/page1/incidents/sp1")
    assert page.json["incident"]["status"] == "monitoring"
    assert json.loads(Path(again.record).read_text())["metadata"]["noa"]["outcome"]["figures"][
        "phase"] == "resolution"


def test_an_unknown_incident_is_refused_before_anything_runs(comms):
    rx, _ = comms
    from noa_lib.records.incidents import UnknownIncident

    with pytest.raises(UnknownIncident):
        run(RunRequest("incident/communication", {"incident": "INC-20200101-0000"},
                       target="sandbox"))
    assert rx.requests == []


def test_incident_parameter_and_option_must_agree(comms):
    rx, incident = comms
    from noa_lib.errors import ParameterError

    with pytest.raises(ParameterError, match="disagree"):
        run(RunRequest("incident/communication", {"incident": incident}, target="sandbox",
                       incident="INC-20200101-0000"))
    assert rx.requests == []
