"""The update texts, phase and cadence from an incident record; the sinks' configuration."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from noa_lib.config import SecretRef, load_config
from noa_lib.errors import ConfigError, ParameterError
from noa_lib.ops.incident_comms import incident_update, phase_of

DETECTED = datetime(2026, 12, 4, 2, 31, tzinfo=UTC)


def incident(status: str = "investigating", severity: str = "P1", **extra: object) -> dict:
    return {
        "id": "INC-20261204-0231", "title": "API 5xx on /v1/chat from api-7f9c.noa.svc",
        "severity": severity, "commander": "ana", "status": status,
        "detected_at": "2026-12-04T02:31:00Z", "status_times": {"detected": "2026-12-04T02:31:00Z"},
        **extra,
    }


@pytest.mark.parametrize(("status", "minutes", "phase"), [
    ("detected", 1, "detection"),
    ("investigating", 10, "investigation"),
    ("investigating", 29, "investigation"),
    ("investigating", 30, "mitigation"),
    ("mitigated", 70, "resolution"),
    ("resolved", 200, "post-incident"),
])
def test_phase_follows_status_and_time_since_detection(status, minutes, phase):
    assert phase_of(status, DETECTED, DETECTED + timedelta(minutes=minutes)) == phase


@pytest.mark.parametrize(("severity", "minutes"), [("P0", 15), ("P1", 30), ("P2", 60)])
def test_cadence_by_severity_sets_the_next_update(severity, minutes):
    now = DETECTED + timedelta(minutes=7)
    update = incident_update(incident(severity=severity), now=now)
    assert update.cadence_minutes == minutes
    assert update.next_update_due == now + timedelta(minutes=minutes)
    assert f"every {minutes} min" in update.internal_text
    assert update.figures()["next_update_due"] == (now + timedelta(minutes=minutes)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def test_p3_updates_on_change_and_a_resolved_incident_needs_none():
    p3 = incident_update(incident(severity="P3"), now=DETECTED + timedelta(minutes=7))
    assert p3.cadence_minutes is None and p3.next_update_due is None
    assert "on change" in p3.internal_text
    done = incident_update(incident(status="resolved", severity="P0"),
                           now=DETECTED + timedelta(hours=3))
    assert done.phase == "post-incident" and done.next_update_due is None
    assert done.status_page_status == "resolved" and done.pagerduty_action == "resolve"


def test_internal_update_says_what_is_known():
    now = DETECTED + timedelta(minutes=12)
    update = incident_update(incident(), now=now,
                             impact={"error_share": 0.073, "organizations_hit": 14, "note": "x"})
    text = update.internal_text
    for expected in ("P1", "major degradation", "investigating", "investigation", "ana",
                     "failing requests 7.3 %", "organizations hit 14", "12 min since detection",
                     "Next step:", "Next update due: 2026-12-04T03:13:00Z"):
        assert expected in text, (expected, text)
    assert "note" not in update.impact


def test_status_page_text_has_no_internals():
    update = incident_update(incident(), now=DETECTED + timedelta(minutes=40),
                             impact={"error_share": 0.2})
    public = f"{update.status_page_title} {update.status_page_text}"
    for internal in ("INC-", "P1", "ana", "api-7f9c", ".svc", "/v1/chat", "5xx", "%", "triage"):
        assert internal not in public, internal
    assert not re.search(r"\b[a-z0-9-]+\.[a-z]{2,}\b", public), public  # no host names
    assert update.phase == "mitigation" and update.status_page_status == "identified"
    assert "03:41 UTC" in update.status_page_text  # the next update, customers see when


def test_phase_override_and_unknown_phase():
    update = incident_update(incident(), now=DETECTED + timedelta(minutes=3), phase="resolution")
    assert update.phase == "resolution" and update.status_page_status == "monitoring"
    with pytest.raises(ParameterError, match="accepted: detection, investigation"):
        incident_update(incident(), now=DETECTED, phase="fixing")


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "noa.toml"
    path.write_text(body)
    return path


def test_sinks_parse_with_references_and_feed_redaction(tmp_path, monkeypatch):
    monkeypatch.setenv("T_SLACK", "https://hooks.example/services/T1/B1/slacksecret123")
    monkeypatch.setenv("T_PD", "pd-routing-key-0123456789")
    path = write(tmp_path, """
[targets.prod.notifications.chat]
kind = "slack"
url = "env:T_SLACK"
[targets.prod.notifications.pager]
kind = "pagerduty"
url = "https://events.pagerduty.com/v2/enqueue"
routing_key = "env:T_PD"
timeout = 2.5
""")
    target = load_config(path, env={}).target("prod")
    chat, pager = target.notifications["chat"], target.notifications["pager"]
    assert isinstance(chat.url, SecretRef) and chat.display_url() == "env:T_SLACK"
    assert pager.url == "https://events.pagerduty.com/v2/enqueue" and pager.timeout == 2.5
    assert set(target.secret_values()) >= {"pd-routing-key-0123456789",
                                           "https://hooks.example/services/T1/B1/slacksecret123"}


@pytest.mark.parametrize(("body", "message"), [
    ('kind = "pagerduty"\nurl = "https://x.example"\nrouting_key = "abc123"',
     "must be a reference"),
    ('kind = "pagerduty"\nurl = "https://x.example"', "routing_key is required"),
    ('kind = "slack"\nurl = "https://hooks.example/T/B/secret"', "Slack webhook URL is a secret"),
    ('kind = "email"\nurl = "https://x.example"', "accepted: slack, pagerduty"),
    ('kind = "webhook"\nurl = "ftp://x.example"', "http(s) URL"),
    ('kind = "webhook"\nurl = "https://x.example"\npassword = "env:X"', "unknown keys"),
])
def test_bad_sink_configuration_is_refused_naming_the_key(tmp_path, body, message):
    path = write(tmp_path, f"[targets.prod.notifications.sink]\n{body}\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path, env={})


def test_update_figures_are_not_read_as_an_open_incident_by_the_checklist():
    from noa_lib.records.deploy_evidence import _open_incident

    update = incident_update(incident(severity="P0"), now=DETECTED + timedelta(minutes=3))
    figures = update.figures()
    assert figures["update_severity"] == "P0" and figures["incident"] == "INC-20261204-0231"
    assert _open_incident({"outcome": {"figures": figures}}) is None
    assert _open_incident({"outcome": {"figures": {"severity": "P0"}}}) == "P0"  # the rule bites
