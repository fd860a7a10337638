"""Severity P0–P3 from live signals: every rule of NOA's table, and the response deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from noa_lib.ops.severity import SeveritySignals, classify_severity, respond_by

DETECTED = datetime(2026, 12, 4, 2, 31, tzinfo=UTC)


@pytest.mark.parametrize(
    ("signals", "severity", "reason"),
    [
        (SeveritySignals(data_loss={"backup_failed": True, "replication_broken": False}),
         "P0", "data-loss signal: backup_failed"),
        (SeveritySignals(services_down=["api", "worker"], services_total=2),
         "P0", "every service is down"),
        (SeveritySignals(services_down=["api"], services_total=3), "P0",
         "complete outage: api has no serving pod"),
        (SeveritySignals(services_down=["web"], services_total=3, outage_services=["web"]), "P0",
         "complete outage: web"),
        (SeveritySignals(error_share=0.51), "P0", "51.0 % of requests fail (> 50% is P0)"),
        (SeveritySignals(error_share=0.50), "P1", "50.0 % of requests fail (≥ 5% is P1)"),
        (SeveritySignals(services_down=["worker"], services_total=3), "P1", "down: worker"),
        (SeveritySignals(error_share=0.05), "P1", "(≥ 5% is P1)"),
        (SeveritySignals(service_error_share={"api": 0.25}), "P1", "api: 25.0 %"),
        (SeveritySignals(p95_latency_s=2.01), "P1", "p95 latency 2.01 s (> 2 s is P1)"),
        (SeveritySignals(organizations=[f"org{i}" for i in range(10)]), "P1",
         "10 organizations hit"),
        (SeveritySignals(error_share=0.0499), "P2", "(≥ 2% is P2)"),
        (SeveritySignals(error_share=0.02), "P2", "2.0 % of requests fail"),
        (SeveritySignals(service_error_share={"api": 0.05}), "P2", "api: 5.0 %"),
        (SeveritySignals(p95_latency_s=1.5), "P2", "(> 1 s is P2)"),
        (SeveritySignals(organizations=["acme"]), "P2", "organization(s) hit: acme"),
        (SeveritySignals(endpoints=["/v1/chat"]), "P2", "endpoint(s) failing: /v1/chat"),
        (SeveritySignals(error_share=0.019, p95_latency_s=1.0,
                         service_error_share={"api": 0.049}), "P3", "no signal above"),
        (SeveritySignals(), "P3", "no signal above"),
    ],
)
def test_each_rule_gives_its_severity_and_says_why(signals, severity, reason):
    verdict = classify_severity(signals, detected=DETECTED)
    assert verdict.severity == severity
    assert any(reason in r for r in verdict.reasons), verdict.reasons


def test_worst_rule_wins_and_every_reason_is_kept_worst_first():
    verdict = classify_severity(SeveritySignals(
        error_share=0.08, p95_latency_s=1.2, endpoints=["/v1/chat"],
        data_loss={"replication_broken": True}))
    assert verdict.severity == "P0" and verdict.meaning == "complete outage or data loss"
    assert verdict.reasons[0] == "data-loss signal: replication_broken"
    assert len(verdict.reasons) == 4
    assert verdict.evidence["error_share"] == 0.08
    assert verdict.evidence["data_loss"] == {"replication_broken": True}


@pytest.mark.parametrize(("severity", "minutes"), [("P0", 5), ("P1", 15), ("P2", 60),
                                                    ("P3", 24 * 60)])
def test_response_deadline_from_detection(severity, minutes):
    assert respond_by(severity, DETECTED) == DETECTED + timedelta(minutes=minutes)


def test_classification_states_the_deadline():
    verdict = classify_severity(SeveritySignals(error_share=0.06), detected=DETECTED)
    assert verdict.respond_by == DETECTED + timedelta(minutes=15)
    assert verdict.as_dict()["response_time_s"] == 900
    assert classify_severity(SeveritySignals()).respond_by is None
    with pytest.raises(ValueError, match="P0, P1, P2, P3"):
        respond_by("P5", DETECTED)
