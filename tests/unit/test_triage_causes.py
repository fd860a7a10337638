"""Ranking likely causes from triage signals (pure): each situation's cause first, none when
healthy, generic causes discounted while a specific one explains them, commands that run."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

import pytest

from noa_lib.ops.severity import classify_severity
from noa_lib.ops.triage_causes import rank_causes
from noa_lib.ops.triage_scope import impact, severity_signals
from noa_lib.ops.triage_signals import Signals

AT = datetime(2026, 12, 4, 2, 31, tzinfo=UTC)

HEALTHY: dict[str, dict[str, float]] = {
    "error_pct": {"api": 0.3, "web": 0.2, "worker": 0.1},
    "error_pct_total": {"all": 0.25},
    "endpoint_error_pct": {"api /api/v1/chat": 0.4},
    "endpoint_requests": {"api /api/v1/chat": 1400.0},
    "version_error_pct": {"api 2.14.0": 0.3},
    "requests": {"api": 4700.0, "web": 1900.0, "worker": 950.0},
    "request_rate": {"api": 15.7, "web": 6.3, "worker": 3.2},
    "baseline_request_rate": {"api": 17.9, "web": 7.2, "worker": 3.6},
    "latency_p95": {"api": 0.36, "web": 0.09, "worker": 0.68},
    "latency_p95_total": {"all": 0.42},
    "cpu_pct": {"api": 29.0, "web": 16.0, "worker": 32.0},
    "memory_pct": {"api": 56.0, "web": 44.0, "worker": 62.0},
    "pool_pct": {"api": 25.0, "worker": 21.0},
    "db_up": {"all": 1.0},
    "oom_kills": {"api": 0.0, "web": 0.0, "worker": 0.0},
    "oom_recent": {"api": 0.0, "web": 0.0, "worker": 0.0},
    "disk_pct": {"noa-uploads": 55.0, "noa-worker-data": 57.0},
    "queue_depth": {"ai": 25.0, "default": 41.0, "email": 8.0},
    "ai_error_pct": {"anthropic": 1.4, "azure": 1.2, "openai": 1.5},
    "breaker": {"anthropic": 0.0, "azure": 0.0, "openai": 0.0},
    "unavailable": {"api": 0.0, "web": 0.0, "worker": 0.0},
}

SITUATIONS: dict[str, tuple[dict[str, dict[str, float]], str, dict[str, str]]] = {
    "bad release": ({"error_pct": {"api": 31.0, "web": 11.0, "worker": 12.0},
                     "error_pct_total": {"all": 24.0},
                     "version_error_pct": {"api 2.14.0": 0.3, "api 2.15.1": 45.0}},
                    "incident/high_error_rate", {"service": "api"}),
    "slow database": ({"latency_p95": {"api": 2.9, "worker": 6.0},
                       "latency_p95_total": {"all": 4.7}, "pool_pct": {"api": 78.0}},
                      "incident/high_latency", {"service": "worker"}),
    "pool exhausted": ({"pool_pct": {"api": 100.0, "worker": 100.0},
                        "latency_p95": {"worker": 2.5}, "error_pct": {"api": 7.0}},
                       "incident/db_pool_exhausted", {"service": "api"}),
    "ai provider down": ({"ai_error_pct": {"openai": 96.0, "anthropic": 1.0},
                          "breaker": {"openai": 2.0}, "error_pct": {"api": 2.1}},
                         "incident/ai_provider_failover", {"provider": "openai"}),
    "oom": ({"oom_kills": {"worker": 2.0}, "memory_pct": {"worker": 97.0},
             "error_pct": {"worker": 5.2}}, "incident/oom_kills", {"service": "worker"}),
    "oom loop": ({"oom_recent": {"worker": 3.0}}, "incident/oom_kills", {"service": "worker"}),
    "disk filling": ({"disk_pct": {"noa-uploads": 93.0}}, "incident/disk_space",
                     {"pvc": "noa-uploads"}),
    "queue backlog": ({"queue_depth": {"default": 2400.0}, "cpu_pct": {"worker": 86.0}},
                      "scaling/horizontal_scale", {"deployment": "worker"}),
    "outage": ({"request_rate": {"web": 6.0, "worker": 3.0}, "unavailable": {"api": 3.0}},
               "incident/complete_outage", {"service": "api"}),
    "flood": ({"request_rate": {"api": 80.0, "web": 6.3, "worker": 3.2},
               "cpu_pct": {"api": 95.0}}, "incident/ddos", {}),
}


def signals(**changes: dict[str, float]) -> Signals:
    values = {**HEALTHY, **changes}
    return Signals("5m", AT, values, {k: f"promql of {k}" for k in values})


def test_a_healthy_system_names_no_cause_and_is_p3() -> None:
    healthy = signals()
    assert rank_causes(healthy) == []
    scope = impact(healthy)
    assert scope.services == () and scope.services_down == ()
    assert classify_severity(severity_signals(healthy, scope)).severity == "P3"


@pytest.mark.parametrize("situation", sorted(SITUATIONS))
def test_each_situation_puts_its_cause_first(situation: str) -> None:
    changes, runbook, parameters = SITUATIONS[situation]
    causes = rank_causes(signals(**changes))
    assert causes, situation
    top = causes[0]
    assert top.runbook == runbook, [(c.runbook, c.score) for c in causes]
    for name, value in parameters.items():
        assert top.parameters[name] == value
    assert 0 < top.score <= 1 and top.evidence
    assert [c.score for c in causes] == sorted((c.score for c in causes), reverse=True)


def test_generic_causes_are_discounted_while_a_specific_one_explains_them() -> None:
    causes = rank_causes(signals(pool_pct={"api": 100.0}, error_pct={"api": 22.0},
                                 latency_p95={"api": 3.5}))
    by_runbook = {c.runbook: c for c in causes}
    assert causes[0].runbook == "incident/db_pool_exhausted"
    assert by_runbook["incident/high_error_rate"].score < 0.6
    assert any("discounted" in e for e in by_runbook["incident/high_latency"].evidence)


def test_a_bad_release_raises_the_error_cause_to_certain() -> None:
    plain = rank_causes(signals(error_pct={"api": 12.0}))[0]
    release = rank_causes(signals(error_pct={"api": 12.0},
                                  version_error_pct={"api 2.14.0": 0.3, "api 2.15.1": 40.0}))[0]
    assert plain.runbook == release.runbook == "incident/high_error_rate"
    assert release.score == 1.0 > plain.score
    assert any("2.15.1" in e for e in release.evidence)


def test_the_command_opens_the_runbook_joined_to_the_incident() -> None:
    cause = rank_causes(signals(pool_pct={"api": 97.0}))[0]
    command = cause.command("prod", "INC-20261204-0231")
    assert shlex.split(command) == [
        "noa", "run", "incident/db_pool_exhausted", "--target", "prod",
        "--incident", "INC-20261204-0231", "-p", "service", "api", "-p", "window", "5m"]
    assert "--incident" not in cause.command("prod")


def test_severity_follows_noas_table_for_each_situation() -> None:
    expected = {"bad release": "P1", "slow database": "P1", "ai provider down": "P2",
                "oom": "P2", "disk filling": "P2", "queue backlog": "P2", "outage": "P0"}
    for situation, severity in expected.items():
        changed = signals(**SITUATIONS[situation][0])
        scope = impact(changed)
        verdict = classify_severity(severity_signals(changed, scope), detected=AT)
        assert verdict.severity == severity, (situation, verdict.reasons)
        assert verdict.respond_by is not None and verdict.respond_by > AT


def test_the_notebook_tables_show_causes_commands_and_changes() -> None:
    from noa_lib.ops.alert_triage import RecentRollout
    from noa_lib.ops.incident_triage import IncidentTriage
    from noa_lib.ops.triage_changes import ChangeRecord, Changes, ConfigChange
    from noa_lib.show.incident_triage import (
        CAUSE_COLUMNS,
        triage_causes_table,
        triage_changes_table,
        triage_impact_table,
        triage_severity_table,
    )

    changed = signals(**SITUATIONS["bad release"][0],
                      endpoint_error_pct={"api /api/v1/chat": 33.0})
    scope = impact(changed)
    changes = Changes(
        "noa",
        (RecentRollout("api", 11, 10, AT, 12.0, "registry/noa-server:2.15.1"),),
        (ConfigChange("noa-config", AT, 40.0, "Update by kubectl"),),
        records=(ChangeRecord("abc123", "deployment/canary", AT, 13.0,
                              ("deployment/noa/api image: 'a' -> 'b'",)),))
    result = IncidentTriage(
        "prod", "INC-20261204-0231", AT, "5m", changed, changes, (), scope,
        classify_severity(severity_signals(changed, scope), detected=AT),
        tuple(rank_causes(changed)), ())
    causes = triage_causes_table(result)
    assert list(causes.columns) == CAUSE_COLUMNS
    assert causes.iloc[0]["runbook"] == "incident/high_error_rate"
    assert "--incident INC-20261204-0231" in causes.iloc[0]["command"]
    kinds = list(triage_changes_table(result)["kind"])
    assert kinds == ["rollout", "run", "configmap"]  # newest first
    assert set(triage_impact_table(result)["kind"]) >= {"service", "endpoint"}
    assert set(triage_severity_table(result)["severity"]) == {"P1"}
    figures = result.figures()
    assert figures["cause_1"] == "incident/high_error_rate" and figures["severity"] == "P1"
    assert all(isinstance(v, int | float | str) for v in figures.values())


def test_a_few_keys_behind_a_surge_are_a_flood_even_without_history() -> None:
    from noa_lib.ops.triage_causes import Flooder

    no_history = signals(baseline_request_rate={}, request_rate={"api": 88.0, "web": 6.0})
    assert [c.runbook for c in rank_causes(no_history)] == []
    flooders = (Flooder(2455, 819, 30.1), Flooder(2456, 819, 24.0), Flooder(4138, 1380, 18.2))
    top = rank_causes(no_history, flooders)[0]
    assert top.runbook == "incident/ddos" and "key 2455 (org 819)" in top.evidence[0]
