"""The configuration causes and their mitigations without processes: the simulated routing of AI
calls and the flood under a rate limit, the pods' log lines of a flood, the choices of the AI
failover (failing provider, fallback) and of the DDoS runbook (top talkers, flooding keys,
proposed limit), and parameter validation before any request."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from noa_lib.config import Target
from noa_lib.errors import ParameterError, UnsafeActionRefused
from noa_lib.ops.ai_failover import (
    ProviderHealth,
    choose_failing,
    choose_fallback,
    diagnose_ai_providers,
)
from noa_lib.ops.ddos import diagnose_ddos
from noa_lib.ops.logs.parse import LogLine
from noa_lib.ops.mitigation import Verdict
from noa_lib.ops.settle import after_window
from noa_lib.ops.talkers import (
    busiest_legitimate,
    estimate_baseline,
    find_flooders,
    propose_limit,
    top_talkers,
)
from noa_sandbox.causes import ai_provider, ddos
from noa_sandbox.kube import podlogs
from noa_sandbox.kube.hooks import LogQuery
from noa_sandbox.simulator import catalog, model
from noa_sandbox.simulator.scenarios import SCENARIOS, Effects
from noa_sandbox.simulator.spec import WorldSpec

FLOOD = {"2455": 30.0, "2456": 24.0, "4138": 18.0}
PROVIDERS = {p.name: p for p in catalog.PROVIDERS}


# --------------------------------------------------------------------------- the sandbox's model


def test_a_failing_primary_keeps_its_calls_and_they_fail() -> None:
    effects = ai_provider.effects_of("openai", frozenset({"openai"}))
    shares = model.provider_shares(effects)
    assert shares["openai"] == pytest.approx(model.PRIMARY_SHARE)
    assert model.breaker_state(PROVIDERS["openai"], effects) == 2
    assert model.ai_status_shares(PROVIDERS["openai"], effects)["ok"] < 0.1
    assert effects.error_5xx["api"] > 0.05  # some api requests end in 5xx


def test_switching_the_primary_moves_the_calls_and_leaves_only_probes() -> None:
    effects = ai_provider.effects_of("anthropic", frozenset({"openai"}))
    shares = model.provider_shares(effects)
    assert shares["anthropic"] == pytest.approx(model.PRIMARY_SHARE)
    assert shares["openai"] == pytest.approx(model.PROBE_SHARE)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert model.breaker_state(PROVIDERS["openai"], effects) == 1  # half-open: probes
    assert model.breaker_state(PROVIDERS["anthropic"], effects) == 0
    assert not effects.error_5xx


def test_the_default_primary_without_failures_departs_from_nothing() -> None:
    assert ai_provider.effects_of("openai", frozenset()) == Effects()
    assert ai_provider.effects_of("no-such-provider", frozenset()) == Effects()  # NOA's default
    assert SCENARIOS["ai-provider-down"].effects == Effects()
    assert SCENARIOS["ddos"].effects == Effects()


def test_a_rate_limit_turns_the_flood_into_cheap_429s() -> None:
    unlimited = ddos.effects_of(FLOOD, 0.0)
    limited = ddos.effects_of(FLOOD, 5.0)
    assert model.flood_split(limited)["2455"] == (5.0, 25.0)
    assert unlimited.cpu_extra["api"] > 0.8 and unlimited.error_5xx["api"] > 0.05
    assert unlimited.extra_latency_s["api"] > 0.5
    assert limited.cpu_extra["api"] < 0.3 and not limited.error_5xx
    assert not limited.extra_latency_s
    assert ddos.effects_of({}, 5.0) == Effects()
    assert ddos.parse_limit("5") == 5.0
    assert ddos.parse_limit("lots") == ddos.parse_limit("-1") == ddos.parse_limit(None) == 0.0


def test_new_effects_survive_json_and_merge() -> None:
    both = ai_provider.effects_of("openai", frozenset({"openai"})).merged(
        ddos.effects_of(FLOOD, 5.0))
    assert Effects.from_json(json.loads(json.dumps(both.to_json()))) == both
    assert both.ai_primary == "openai" and both.rate_limit_rps == 5.0
    with pytest.raises(ValueError, match="ai_failing"):
        Effects.from_json({"ai_failing": "openai"})
    with pytest.raises(ValueError, match="rate_limit_rps"):
        Effects.from_json({"rate_limit_rps": "high"})


def _api_pod(started: float) -> dict[str, object]:
    return {
        "metadata": {"name": "api-abc-x1", "namespace": "noa", "uid": "uid-api-abc-x1",
                     "labels": {"app": "api"}},
        "spec": {"containers": [{"name": "api",
                                 "image": "registry.noa.local/noa-server:2.14.0"}]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "api", "ready": True, "restartCount": 0,
            "state": {"running": {"startedAt": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))}}}]},
    }


def _flood_lines(limit: float) -> list[dict[str, object]]:
    now = time.time()
    spec = WorldSpec(scenario="ddos", since=now - 120, epoch=now - 91 * 86_400,
                     observed=ddos.effects_of(FLOOD, limit), observed_since=now - 60)
    text = podlogs.render(_api_pod(now - 300), LogQuery(container="api", since_seconds=40),
                          spec, now)
    return [line for line in map(json.loads, text.splitlines()) if "api_key_id" in line]


def test_the_pods_logs_name_the_flood_at_its_share_and_429_above_the_limit() -> None:
    lines = _flood_lines(0.0)
    flood = [x for x in lines if str(x["api_key_id"]) in FLOOD]
    share = len(flood) / len(lines)
    assert 0.6 < share < 0.95, share  # ~72 of ~95 req/s at this hour: the real share
    assert {x["org_id"] for x in flood} == {819, 1380}
    assert not [x for x in lines if x["status"] == 429]
    limited = _flood_lines(3.0)
    rejected = [x for x in limited if x["status"] == 429]
    assert {str(x["api_key_id"]) for x in rejected} == set(FLOOD)
    assert not [x for x in rejected if str(x["api_key_id"]) not in FLOOD]
    assert "rate limit exceeded" in str(rejected[0]["msg"])


def test_observed_effects_reach_the_log_from_when_they_were_observed() -> None:
    now = time.time()
    spec = WorldSpec(scenario="ddos", since=now - 120, epoch=now - 91 * 86_400,
                     observed=ddos.effects_of(FLOOD, 0.0), observed_since=now - 30)
    text = podlogs.render(_api_pod(now - 300), LogQuery(container="api", since_seconds=100),
                          spec, now)
    lines = [json.loads(x) for x in text.splitlines()]
    before = [x for x in lines if _ts(x) < now - 31 and str(x.get("api_key_id")) in FLOOD]
    after = [x for x in lines if _ts(x) >= now - 29 and str(x.get("api_key_id")) in FLOOD]
    # the seeded callers may pick a flood key now and then (~0.03 % of lines each)
    assert len(before) <= 2 and len(after) > 20


def _ts(line: dict[str, object]) -> float:
    return datetime.fromisoformat(str(line["ts"]).replace("Z", "+00:00")).timestamp()


# --------------------------------------------------------------------------- the failover's choices


def _row(name: str, error: float | None, rate: float = 1.0, breaker: int | None = 0
         ) -> ProviderHealth:
    return ProviderHealth(name, rate, 0.0, error, 1.0, 1.0, breaker)


ROWS = (_row("openai", 94.0, 6.0, 2), _row("anthropic", 2.6, 3.0), _row("azure", 0.0, 1.0))


def test_the_failing_provider_is_the_worst_by_error_rate_or_the_named_one() -> None:
    assert choose_failing(ROWS) == ROWS[0]
    assert choose_failing(ROWS, "azure") == ROWS[2]
    assert choose_failing((_row("openai", 1.0), _row("azure", 2.0))) is None  # all healthy
    with pytest.raises(ParameterError, match="provider='mistral'") as caught:
        choose_failing(ROWS, "mistral")
    assert caught.value.name == "provider" and caught.value.accepted == "openai, anthropic, azure"


def test_the_fallback_is_the_healthiest_other_provider_and_never_a_failing_one() -> None:
    assert choose_fallback(ROWS, "openai").provider == "anthropic"  # healthy, most calls
    assert choose_fallback(ROWS, "openai", "azure").provider == "azure"
    failing_too = (*ROWS[:2], _row("azure", 60.0, 1.0, 2))
    with pytest.raises(UnsafeActionRefused, match="'azure' is failing too"):
        choose_fallback(failing_too, "openai", "azure")
    with pytest.raises(ParameterError, match="is the failing provider"):
        choose_fallback(ROWS, "openai", "openai")
    with pytest.raises(UnsafeActionRefused, match="no healthy provider"):
        choose_fallback((ROWS[0], _row("anthropic", 40.0), _row("azure", None)), "openai")


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"provider": "Open AI!"}, "provider"), ({"fallback": 3}, "fallback"),
    ({"fail_back": "yes"}, "fail_back"), ({"window": "five minutes"}, "window")])
def test_failover_parameters_are_checked_before_any_request(kwargs: dict[str, object],
                                                             name: str) -> None:
    with pytest.raises(ParameterError) as caught:
        diagnose_ai_providers(Target("bare"), **kwargs)  # type: ignore[arg-type]
    assert caught.value.name == name and name in str(caught.value)


# ------------------------------------------------------------------------- the DDoS runbook's logic


def _lines(counts: dict[int, int], rejected: dict[int, int] | None = None) -> list[LogLine]:
    out = []
    for key, n in counts.items():
        for i in range(n):
            status = 429 if i < (rejected or {}).get(key, 0) else 200
            out.append(LogLine(datetime.now(UTC), "info", "request completed", "api-0",
                               fields={"api_key_id": key, "org_id": (key - 1) // 3 + 1,
                                       "status": status}))
    out.append(LogLine(None, "info", "Listening on 0.0.0.0:8080", "api-0"))
    return out


FLOODED = {2455: 330, 2456: 270, 4138: 200, 1: 12, 2: 11, **{k: 3 for k in range(4, 94)}}


def test_top_talkers_spread_the_measured_rate_by_share() -> None:
    talkers = top_talkers(_lines(FLOODED, {2455: 30}), total_rps=83.0)
    assert [t.api_key_id for t in talkers[:3]] == [2455, 2456, 4138]
    assert talkers[0].org_id == 819 and talkers[0].rejected == 30
    assert talkers[0].share == pytest.approx(330 / 1093, abs=1e-4)
    assert sum(t.rps for t in talkers) == pytest.approx(83.0, abs=0.1)  # each rounded
    assert top_talkers([], total_rps=10.0) == ()


def test_the_flooders_explain_the_surge_and_the_limit_spares_legitimate_keys() -> None:
    talkers = top_talkers(_lines(FLOODED), total_rps=83.0)
    flooders = find_flooders(talkers, 83.0, 16.0)
    assert [t.api_key_id for t in flooders] == [2455, 2456, 4138]
    legit = busiest_legitimate(talkers, flooders, 16.0)
    assert legit == pytest.approx(max(12 / 1093 * 83.0, 12 / 293 * 16.0), abs=1e-3)
    limit = propose_limit(talkers, flooders, 16.0)
    assert limit is not None and limit >= 3 * legit and limit < 0.5 * flooders[-1].rps
    assert limit == float(int(limit))


def test_without_a_baseline_the_concentrated_keys_are_left_out_of_the_estimate() -> None:
    talkers = top_talkers(_lines(FLOODED), total_rps=83.0)
    estimated = estimate_baseline(talkers, 83.0)
    assert estimated == pytest.approx(83.0 * 293 / 1093, abs=0.01)
    assert [t.api_key_id for t in find_flooders(talkers, 83.0, estimated)] == [2455, 2456, 4138]
    normal = top_talkers(_lines({k: 5 for k in range(1, 60)}), total_rps=20.0)
    assert estimate_baseline(normal, 20.0) == 20.0  # no key stands out: no flood


def test_no_flood_without_a_surge_or_when_many_keys_share_it() -> None:
    talkers = top_talkers(_lines(FLOODED), total_rps=83.0)
    assert find_flooders(talkers, 20.0, 16.0) == ()  # under 1.5x the baseline
    broad = top_talkers(_lines({k: 10 for k in range(1, 200)}), total_rps=80.0)
    assert find_flooders(broad, 80.0, 16.0) == ()  # ten keys explain too little
    assert propose_limit(talkers, (), 16.0) is None
    close = top_talkers(_lines({7: 100, 8: 20}), total_rps=60.0)  # a big legitimate key
    assert [t.api_key_id for t in find_flooders(close, 60.0, 10.0)] == [7]
    assert propose_limit(close, find_flooders(close, 60.0, 10.0), 10.0) is None


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"window": "soon"}, "window"), ({"baseline": "0s"}, "baseline"), ({"top": 0}, "top"),
    ({"top": True}, "top"), ({"limit_rps": -1.0}, "limit_rps"),
    ({"limit_rps": float("nan")}, "limit_rps")])
def test_ddos_parameters_are_checked_before_any_request(kwargs: dict[str, object],
                                                        name: str) -> None:
    with pytest.raises(ParameterError) as caught:
        diagnose_ddos(Target("bare"), **kwargs)  # type: ignore[arg-type]
    assert caught.value.name == name and name in str(caught.value)


def test_a_verify_cannot_pass_before_its_window_holds_only_data_after_the_change() -> None:
    now = [100.0]
    verdicts = iter([Verdict(True, "looks cured"), Verdict(True, "cured"),
                     Verdict(False, "worse")])
    verify = after_window(lambda: next(verdicts), 30.0, clock=lambda: now[0])
    first = verify()  # right after the change: the window still averages what came before
    assert not first.ok and "waiting until the 30 s window" in first.message
    now[0] = 131.0
    assert verify().ok
    assert not verify().ok  # a failing verdict is never held back or turned around
