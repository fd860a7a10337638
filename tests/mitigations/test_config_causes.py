"""The configuration causes cured for real on the private mitigation sandbox: ``ai-provider-down``
by switching ``AI_PROVIDER_PRIMARY`` (incident/ai_provider_failover), ``ddos`` by setting
``RATE_LIMIT_PER_KEY_RPS`` (incident/ddos) — each symptom read back from Prometheus — a failover
whose fallback fails too reverted (and refused on a protected target without ``confirm``), and
``normal`` putting back exactly the keys a cause changed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from noa_lib.clients import kube_apps, prometheus
from noa_lib.config import Target
from noa_lib.errors import UnsafeActionRefused
from noa_lib.ops import metrics
from noa_lib.ops.ai_failover import diagnose_ai_providers
from noa_lib.ops.ai_failover_plan import ai_failover_mitigation
from noa_lib.ops.mitigation import run_mitigation
from noa_lib.records.incidents import IncidentStore
from noa_lib.records.runner import ExitCode, RunRequest, run
from noa_sandbox import causes
from noa_sandbox.causes import ai_provider, noa_config
from noa_sandbox.kube.requestlog import log_offset, read_requests
from tests.mitigations.conftest import MitigationSandbox

pytestmark = [pytest.mark.integration]

AI_ERRORS = ('sum(rate(noa_ai_provider_requests_total{{namespace="noa",provider="{p}",'
             'status!="ok"}}[{w}])) / sum(rate(noa_ai_provider_requests_total{{namespace="noa",'
             'provider="{p}"}}[{w}]))')
AI_SHARE = ('sum(rate(noa_ai_provider_requests_total{{namespace="noa",provider="{p}"}}[{w}])) / '
            'sum(rate(noa_ai_provider_requests_total{{namespace="noa"}}[{w}]))')
OPENAI_PRIMARY = (f"({AI_ERRORS.format(p='openai', w='15s')} > 0.5) and "
                  f"({AI_SHARE.format(p='openai', w='15s')} > 0.5)")
AI_ALL_ERRORS = ('sum(rate(noa_ai_provider_requests_total{namespace="noa",status!="ok"}[20s])) / '
                 'sum(rate(noa_ai_provider_requests_total{namespace="noa"}[20s]))')
API_RPS = 'sum(rate(noa_http_requests_total{{namespace="noa",service="api"{s}}}[{w}]))'
SEEN_S = 45.0


def scalar(target: Target, promql: str) -> float | None:
    prom = metrics.connect(target)
    try:
        result = prometheus.query(prom.client, promql, at=datetime.now(UTC))
    finally:
        prom.close()
    return float(result[0]["value"][1]) if result else None


def eventually(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``check`` held (fails the test after ``timeout``)."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"not within {timeout:.0f} s: {what}"
        time.sleep(1.0)
    return time.monotonic() - start


def above(target: Target, promql: str, bound: float) -> Callable[[], bool]:
    def check() -> bool:
        value = scalar(target, promql)
        return value is not None and value > bound
    return check


def config(sbx: MitigationSandbox) -> dict[str, object]:
    assert sbx.target.kubernetes is not None
    return kube_apps.get(sbx.target.kubernetes, "configmaps", "noa-config", "noa")


def mutating_since(sbx: MitigationSandbox, offset: int) -> list[dict[str, object]]:
    return [r for r in read_requests(sbx.layout.kube_dir / "requests.jsonl", offset)
            if r.get("mutating")]


def test_failover_dry_run_changes_nothing_then_applied_it_moves_the_calls(
        runner_env: MitigationSandbox, reports_dir: Path) -> None:
    sbx, target = runner_env, runner_env.target
    began = time.monotonic()
    with sbx.scenario("ai-provider-down"):
        seen = eventually(above(target, OPENAI_PRIMARY, 0.5), SEEN_S,
                          "openai primary and failing (share and errors above 50 %)")
        before, offset = config(sbx), log_offset(sbx.layout.kube_dir / "requests.jsonl")
        dry = run(RunRequest("incident/ai_provider_failover", {"window": "30s"},
                             target="sandbox"))
        assert dry.exit_code == ExitCode.SUCCEEDED, dry.message
        figures = dry.metadata["outcome"]["figures"]
        assert figures["mitigation"] == "dry-run" and figures["failing_provider"] == "openai"
        assert figures["fallback"] == "anthropic" and figures["primary_before"] == "openai"
        after = config(sbx)
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert mutating_since(sbx, offset) == []

        incident = IncidentStore(reports_dir).open(title="AI calls failing", severity="P1",
                                                   commander="tests")
        applied = run(RunRequest("incident/ai_provider_failover", {
            "window": "20s", "dry_run": "false", "incident": incident.id}, target="sandbox"))
        assert applied.exit_code == ExitCode.SUCCEEDED, applied.message
        assert applied.metadata["outcome"]["figures"]["mitigation"] == "cured"
        assert config(sbx)["data"]["AI_PROVIDER_PRIMARY"] == "anthropic"
        # read back independently over the verify's window: the calls moved, openai only
        # probes, errors under 5 %
        moved = scalar(target, AI_SHARE.format(p="anthropic", w="20s"))
        probes = scalar(target, AI_SHARE.format(p="openai", w="15s"))
        errors = scalar(target, AI_ALL_ERRORS)
        assert moved is not None and moved > 0.5, moved
        assert probes is not None and probes < 0.1, probes
        assert errors is not None and errors < 0.05, errors
        assert IncidentStore(reports_dir).get(incident.id).status == "mitigated"
        back = diagnose_ai_providers(target, fail_back=True, window="20s")  # openai still fails
        assert back.fallback is None and "not healthy yet" in back.findings[-1].message
    assert config(sbx)["data"]["AI_PROVIDER_PRIMARY"] == "openai"  # normal: as the cause found
    print(f"\nfailover: openai failing seen after {seen:.0f} s, whole test "
          f"{time.monotonic() - began:.0f} s")


def test_a_failover_whose_fallback_fails_too_is_reverted(
        mitigation_sandbox: MitigationSandbox) -> None:
    sbx, target = mitigation_sandbox, mitigation_sandbox.target
    began = time.monotonic()
    with sbx.scenario("ai-provider-down"):
        eventually(above(target, OPENAI_PRIMARY, 0.5), SEEN_S,
                   "openai primary again and failing (share and errors above 50 %)")
        diagnosis = diagnose_ai_providers(target, window="30s")
        assert (diagnosis.failing, diagnosis.fallback) == ("openai", "anthropic")
        version = config(sbx)["metadata"]["resourceVersion"]
        protected = replace(diagnosis, target=replace(target, protected=True))
        with pytest.raises(UnsafeActionRefused, match="confirm='sandbox'"):
            run_mitigation(ai_failover_mitigation(protected), dry_run=False)
        assert config(sbx)["metadata"]["resourceVersion"] == version  # refused before a change
        ai_provider.fail(sbx.layout, "anthropic")  # the outage spreads after the diagnosis
        outcome = run_mitigation(ai_failover_mitigation(diagnosis, verify_timeout_s=25.0),
                                 dry_run=False)
        assert outcome.status == "reverted", outcome.findings
        assert outcome.verdict is not None and "AI errors" in outcome.verdict.message
        assert config(sbx)["data"]["AI_PROVIDER_PRIMARY"] == "openai"
    print(f"\nreverted failover: {time.monotonic() - began:.0f} s")


def test_failing_back_once_the_original_primary_is_healthy_again(
        mitigation_sandbox: MitigationSandbox) -> None:
    sbx, target = mitigation_sandbox, mitigation_sandbox.target
    began = time.monotonic()
    with sbx.scenario("ai-provider-down"):
        eventually(above(target, OPENAI_PRIMARY, 0.5), SEEN_S,
                   "openai primary and failing (share and errors above 50 %)")
        first = diagnose_ai_providers(target, window="20s")  # anthropic or azure: whichever
        over = run_mitigation(ai_failover_mitigation(first), dry_run=False)  # is healthy now
        assert first.failing == "openai" and over.status == "cured", over.findings
        ai_provider.set_failing(sbx.layout, [])  # openai's outage ends
        # openai only gets probes now (1 % of the calls): a longer window for enough of them
        eventually(lambda: (scalar(target, AI_ERRORS.format(p="openai", w="40s")) or 1) < 0.05,
                   2 * SEEN_S, "openai's probes succeed again")
        back = diagnose_ai_providers(target, fail_back=True, window="40s")  # enough probes
        assert (back.failing, back.fallback) == (first.fallback, "openai")  # the saved version
        outcome = run_mitigation(ai_failover_mitigation(back), dry_run=False)
        assert outcome.status == "cured", outcome.findings
        assert config(sbx)["data"]["AI_PROVIDER_PRIMARY"] == "openai"
        share = scalar(target, AI_SHARE.format(p="openai", w="15s"))
        assert share is not None and share > 0.5
    print(f"\nfail back: {time.monotonic() - began:.0f} s")


def test_ddos_top_talkers_named_and_the_rate_limit_brings_the_load_down(
        runner_env: MitigationSandbox) -> None:
    sbx, target = runner_env, runner_env.target
    began = time.monotonic()
    with sbx.scenario("ddos"):
        keys = causes.created(sbx.layout)["created"]["keys"]
        seen = eventually(above(target, API_RPS.format(s="", w="15s"), 60.0), SEEN_S,
                          "the api above 60 req/s")
        result = run(RunRequest("incident/ddos", {"window": "30s", "dry_run": "false"},
                                target="sandbox"))
        assert result.exit_code == ExitCode.SUCCEEDED, result.message
        figures = result.metadata["outcome"]["figures"]
        found = [(f["status"], f["message"]) for f in result.metadata["outcome"]["findings"]]
        assert set(figures["flooding_keys"].split(",")) == set(keys), found
        assert figures["mitigation"] == "cured" and figures["limit_rps"] > 0
        limit = config(sbx)["data"]["RATE_LIMIT_PER_KEY_RPS"]
        assert float(limit) == figures["limit_rps"]
        rejected = scalar(target, API_RPS.format(s=',status="429"', w="15s"))
        served = scalar(target, API_RPS.format(s=',status!="429"', w="15s"))
        flood = sum(keys.values())
        assert rejected is not None and rejected > 0.5 * (flood - len(keys) * float(limit))
        # the load the api works for is back down: most of what it is sent is now rejected
        assert served is not None and served < 0.6 * (served + rejected), (served, rejected)
    assert "RATE_LIMIT_PER_KEY_RPS" not in config(sbx)["data"]  # normal: as the cause found
    print(f"\nddos: flood seen after {seen:.0f} s, whole test {time.monotonic() - began:.0f} s")


def test_normal_puts_back_exactly_the_keys_a_cause_changed(
        mitigation_sandbox: MitigationSandbox) -> None:
    sbx = mitigation_sandbox
    seeded = dict(config(sbx)["data"])  # type: ignore[arg-type]
    noa_config.set_keys(sbx.layout, {"AI_PROVIDER_PRIMARY": "azure",
                                     "RATE_LIMIT_PER_KEY_RPS": "50"})
    try:
        with sbx.scenario("ai-provider-down"):
            assert config(sbx)["data"]["AI_PROVIDER_PRIMARY"] == "openai"
            noa_config.set_keys(sbx.layout, {"AI_PROVIDER_PRIMARY": "anthropic",
                                             "LOG_LEVEL": "debug"})  # a failover, someone else
        data = config(sbx)["data"]
        assert data["AI_PROVIDER_PRIMARY"] == "azure" and data["LOG_LEVEL"] == "debug"
        assert data["RATE_LIMIT_PER_KEY_RPS"] == "50"
        with sbx.scenario("ddos"):
            assert "RATE_LIMIT_PER_KEY_RPS" not in config(sbx)["data"]
        data = config(sbx)["data"]
        assert data["RATE_LIMIT_PER_KEY_RPS"] == "50" and data["AI_PROVIDER_PRIMARY"] == "azure"
        assert not ai_provider.providers_file(sbx.layout).exists()
    finally:
        noa_config.set_keys(sbx.layout, {k: seeded.get(k) for k in (
            "AI_PROVIDER_PRIMARY", "RATE_LIMIT_PER_KEY_RPS", "LOG_LEVEL")})
    assert config(sbx)["data"] == seeded
