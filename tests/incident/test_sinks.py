"""Each sink's request as a local receiver gets it: the documented format, the secret only where
it belongs, nothing in a dry run, and a failing sink a finding rather than a crash."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta

import pytest
from notify_receiver import Receiver, receiver, sinks_toml

from noa_lib.config import Target, load_config
from noa_lib.ops.findings import Status
from noa_lib.ops.incident_comms import incident_update
from noa_lib.ops.notify import plan_notifications, send_notifications

SLACK_SECRET = "slackpathsecret7c1d"
PD_KEY = "R0UT1NGKEY5e8f0a9b2c4d6e8f0a1b2c"
SP_TOKEN = "sp-token-93ab71c0e2"
HOOK_TOKEN = "hook-token-4d2e9f1a"
SECRETS = (SLACK_SECRET, PD_KEY, SP_TOKEN, HOOK_TOKEN)
DETECTED = datetime(2026, 12, 4, 2, 31, tzinfo=UTC)
INCIDENT = {
    "id": "INC-20261204-0231", "title": "API 5xx", "severity": "P1", "commander": "ana",
    "status": "detected", "detected_at": "2026-12-04T02:31:00Z", "status_times": {},
}
# PagerDuty Events API v2 (developer.pagerduty.com, "Send an Alert Event")
PD_ACTIONS = {"trigger", "acknowledge", "resolve"}
PD_SEVERITIES = {"critical", "error", "warning", "info"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    with receiver() as rx:
        monkeypatch.setenv("NOTIFY_SLACK_URL", f"{rx.url}/slack/services/T0/B0/{SLACK_SECRET}")
        monkeypatch.setenv("NOTIFY_PD_KEY", PD_KEY)
        monkeypatch.setenv("NOTIFY_SP_TOKEN", SP_TOKEN)
        monkeypatch.setenv("NOTIFY_HOOK_TOKEN", HOOK_TOKEN)
        path = tmp_path / "noa.toml"
        path.write_text(sinks_toml("comms", rx.url,
                                   refused_url=f"http://127.0.0.1:{closed_port()}/hook"))
        yield rx, load_config(path, env={}).target("comms")


def send(target: Target, *, status: str = "detected", sinks=None, dry_run=False, ids=None):
    update = incident_update({**INCIDENT, "status": status},
                             now=DETECTED + timedelta(minutes=3))
    requests = plan_notifications(target, update, sinks, statuspage_ids=ids)
    return requests, *send_notifications(target, requests, dry_run=dry_run)


def validate_pagerduty(event: dict) -> None:
    assert event["routing_key"] == PD_KEY and len(event["routing_key"]) == 32
    assert event["event_action"] in PD_ACTIONS
    assert isinstance(event["dedup_key"], str) and 0 < len(event["dedup_key"]) <= 255
    if event["event_action"] == "trigger":
        payload = event["payload"]
        assert isinstance(payload["summary"], str) and 0 < len(payload["summary"]) <= 1024
        assert isinstance(payload["source"], str) and payload["source"]
        assert payload["severity"] in PD_SEVERITIES
        datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00"))
        assert isinstance(payload.get("custom_details", {}), dict)
    assert set(event) <= {"routing_key", "event_action", "dedup_key", "payload", "images",
                          "links", "client", "client_url"}


def validate_slack(message: dict) -> None:
    assert isinstance(message["text"], str) and message["text"]
    blocks = message["blocks"]
    assert isinstance(blocks, list) and 0 < len(blocks) <= 50
    for block in blocks:
        assert block["type"] in {"header", "section", "context", "divider"}
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert block["text"]["type"] in {"mrkdwn", "plain_text"}
                assert 0 < len(block["text"]["text"]) <= 3000
            for f in block.get("fields", []):
                assert f["type"] in {"mrkdwn", "plain_text"} and len(f["text"]) <= 2000
            assert len(block.get("fields", [])) <= 10
        if block["type"] == "context":
            assert 0 < len(block["elements"]) <= 10
            assert all(e["type"] in {"mrkdwn", "plain_text", "image"} for e in block["elements"])


def secret_places(rx: Receiver) -> list[tuple[str, str]]:
    """Where each secret showed up in what the receiver got: (secret, place)."""
    places = []
    for r in rx.requests:
        for secret in SECRETS:
            if secret in r.path:
                places.append((secret, f"path {r.path.split('/')[1]}"))
            if secret in r.raw:
                places.append((secret, f"body {r.path.split('/')[1]}"))
            for name, value in r.headers.items():
                if secret in value:
                    places.append((secret, f"header {name} {r.path.split('/')[1]}"))
    return places


def test_each_sink_gets_its_documented_format_and_its_secret_only_where_it_belongs(stand_in):
    rx, target = stand_in
    _, deliveries, findings = send(target, sinks=["chat", "pager", "status", "audit"])
    assert [f.status for f in findings] == [Status.OK] * 4, [f.message for f in findings]
    assert len(rx.requests) == 4
    (slack,) = rx.on("/slack/")
    assert slack.method == "POST" and "Authorization" not in slack.headers
    validate_slack(slack.json)
    (pager,) = rx.on("/pagerduty/")
    validate_pagerduty(pager.json)
    assert pager.json["event_action"] == "trigger" and pager.json["dedup_key"] == INCIDENT["id"]
    assert pager.json["payload"]["severity"] == "error"  # P1
    (status,) = rx.on("/statuspage/")
    assert (status.method, status.path) == ("POST", "/statuspage/v1/pages/page1/incidents")
    assert status.headers["Authorization"] == f"OAuth {SP_TOKEN}"  # Statuspage's API keys
    body = status.json["incident"]
    assert body["status"] == "investigating" and body["impact_override"] == "major"
    assert "INC-" not in json.dumps(body) and "ana" not in json.dumps(body)
    (hook,) = rx.on("/hook")
    assert hook.headers["Authorization"] == f"Bearer {HOOK_TOKEN}"
    assert hook.json["incident"]["id"] == INCIDENT["id"] and hook.json["event"] == "incident.update"
    assert sorted(secret_places(rx)) == sorted([
        (SLACK_SECRET, "path slack"), (PD_KEY, "body pagerduty"),
        (SP_TOKEN, "header Authorization statuspage"), (HOOK_TOKEN, "header Authorization hook"),
    ])
    assert [d.external_id for d in deliveries if d.request.kind == "statuspage"] == ["sp1"]


@pytest.mark.parametrize(("status", "action"), [("investigating", "acknowledge"),
                                                ("resolved", "resolve")])
def test_pagerduty_follows_the_phase_with_the_same_dedup_key(stand_in, status, action):
    rx, target = stand_in
    send(target, status=status, sinks=["pager"])
    (event,) = [r.json for r in rx.on("/pagerduty/")]
    validate_pagerduty(event)
    assert event["event_action"] == action and event["dedup_key"] == INCIDENT["id"]
    assert "payload" not in event  # acknowledge/resolve carry only the key


def test_a_known_status_page_incident_is_updated_not_created(stand_in):
    rx, target = stand_in
    send(target, status="mitigated", sinks=["status"], ids={"status": "sp42"})
    (update,) = rx.on("/statuspage/")
    assert (update.method, update.path) == ("PATCH", "/statuspage/v1/pages/page1/incidents/sp42")
    assert update.json == {"incident": {"status": "monitoring", "body": update.json["incident"][
        "body"]}} and "monitoring" in update.json["incident"]["status"]


def test_dry_run_sends_nothing_and_masks_every_secret(stand_in):
    rx, target = stand_in
    requests, deliveries, findings = send(target, dry_run=True)
    assert rx.requests == []
    assert len(deliveries) == 5 and all(d.dry_run and not d.sent for d in deliveries)
    shown = json.dumps([[r.masked_body(), r.masked_headers()] for r in requests]
                       + [f.as_dict() for f in findings], default=str)
    assert not [s for s in SECRETS if s in shown]
    assert '"routing_key": "***"' in shown and "Bearer ***" in shown


def test_refused_and_failing_sinks_are_findings_and_the_others_still_send(stand_in):
    rx, target = stand_in
    rx.fail["/pagerduty/"] = 500
    rx.fail["/statuspage/"] = 401
    _, deliveries, findings = send(target)
    by_sink = {f.check: f for f in findings}
    assert by_sink["notify chat"].status == by_sink["notify audit"].status == Status.OK
    for sink, words in (("pager", "HTTP 500"), ("status", "HTTP 401"),
                        ("dead", "connection refused")):
        assert by_sink[f"notify {sink}"].status == Status.CRITICAL
        assert words in by_sink[f"notify {sink}"].message, by_sink[f"notify {sink}"].message
    text = json.dumps([f.as_dict() for f in findings] + [d.as_row() for d in deliveries])
    assert not [s for s in SECRETS if s in text]
    assert len(rx.requests) == 4  # every reachable sink was tried once


def test_an_unresolvable_secret_is_a_finding(stand_in, monkeypatch):
    rx, target = stand_in
    monkeypatch.delenv("NOTIFY_PD_KEY")
    _, _, findings = send(target, sinks=["pager", "chat"])
    assert [f.status for f in findings] == [Status.CRITICAL, Status.OK]
    assert "NOTIFY_PD_KEY" in findings[0].message and not rx.on("/pagerduty/")


def test_unknown_sink_names_are_refused_before_anything_is_sent(stand_in):
    rx, target = stand_in
    from noa_lib.errors import ParameterError

    with pytest.raises(ParameterError, match="configured: chat, pager, status, audit, dead"):
        send(target, sinks=["chat", "pagr"])
    assert rx.requests == []
