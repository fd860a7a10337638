"""The simulated NOA Server without processes: model, world file, world, exporter text, history."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from noa_lib.errors import ParameterError, PreconditionFailed
from noa_sandbox import history, processes, scenarios
from noa_sandbox.history_series import generate
from noa_sandbox.simulator import catalog, model
from noa_sandbox.simulator.exporter import ExporterCollector, SpecWatcher, WorldCollector, route
from noa_sandbox.simulator.families import FAMILIES
from noa_sandbox.simulator.scenarios import NAMES, SCENARIOS
from noa_sandbox.simulator.spec import WorldSpec, parse_spec, read_spec, write_spec
from noa_sandbox.simulator.world import World
from noa_sandbox.state import HistoryRecord

DAY = 86_400.0
# A Wednesday, 14:00 UTC (the daily peak), and the same day at 03:00.
WEDNESDAY_PEAK = 1_795_615_200.0
assert time.gmtime(WEDNESDAY_PEAK).tm_wday == 2 and time.gmtime(WEDNESDAY_PEAK).tm_hour == 14


def world_at(scenario: str, now: float, *, seconds: int = 60, since: float | None = None) -> World:
    spec = WorldSpec(scenario=scenario, since=now - seconds if since is None else since,
                     epoch=now - 91 * DAY)
    world = World(spec, seed=7)
    for i in range(seconds):
        world.step(now - seconds + i + 1, 1.0)
    return world


def exposed(world: World) -> dict[str, list[tuple[dict[str, str], float]]]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorldCollector(world))
    text = generate_latest(registry).decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def infra_exposed(world: World, endpoint: str, nodes: tuple[str, ...] = catalog.NODES
                  ) -> dict[str, list[tuple[dict[str, str], float]]]:
    """What the simulated ``endpoint`` (cadvisor, kubelet, node-exporter) of ``nodes`` shows."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for node in nodes:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(ExporterCollector(world, endpoint, node))
        for family in text_string_to_metric_families(generate_latest(registry).decode()):
            for sample in family.samples:
                out.setdefault(sample.name, []).append(({**sample.labels, "_node": node},
                                                        sample.value))
    return out


def containers(samples: list[tuple[dict[str, str], float]]) -> dict[str, float]:
    """Pod -> value of the container-level series (``container!=""``) of a cAdvisor family."""
    return {labels["pod"]: v for labels, v in samples if labels.get("container")}


def total(samples: list[tuple[dict[str, str], float]], **match: str) -> float:
    return sum(v for labels, v in samples if all(labels.get(k) == m for k, m in match.items()))


# --------------------------------------------------------------------------- model


def test_load_has_daily_weekly_cycles_and_growth() -> None:
    epoch = WEDNESDAY_PEAK - 10 * DAY
    peak = model.load(WEDNESDAY_PEAK, epoch)
    night = model.load(WEDNESDAY_PEAK - 11 * 3600, epoch)
    saturday = model.load(WEDNESDAY_PEAK + 3 * DAY, epoch)
    later = model.load(WEDNESDAY_PEAK + 28 * DAY, epoch)
    assert peak > 3 * night
    assert saturday < 0.7 * peak
    assert later > peak * 1.1
    array = model.load(np.array([WEDNESDAY_PEAK, WEDNESDAY_PEAK - 11 * 3600]), epoch)
    assert array.tolist() == pytest.approx([peak, night])


def test_latency_distribution_keeps_inf_bucket_under_one_percent() -> None:
    for scenario in SCENARIOS.values():
        for endpoint in catalog.ENDPOINTS:
            median = model.latency_median(endpoint, 1.6, scenario.effects)
            assert 1.0 - model.lognormal_cdf(catalog.LATENCY_BUCKETS[-1], median) < 0.01
        for provider in catalog.PROVIDERS:
            top = model.ai_bucket_share(provider, scenario.effects, catalog.LATENCY_BUCKETS[-1])
            assert top > 0.99
    assert model.lognormal_cdf(0.1, 0.1) == pytest.approx(0.5, abs=1e-6)


def test_status_shares_sum_to_one_and_follow_effects() -> None:
    for scenario in SCENARIOS.values():
        for endpoint in catalog.ENDPOINTS:
            shares = model.status_shares(endpoint, scenario.effects)
            assert sum(shares.values()) == pytest.approx(1.0)
            assert set(shares) == set(catalog.STATUSES)
    api = catalog.endpoints_of("api")[0]
    spike = model.status_shares(api, SCENARIOS["error-spike"].effects)
    assert spike["500"] + spike["503"] == pytest.approx(0.30)


# --------------------------------------------------------------------------- world file


def test_world_file_round_trips_and_rejects_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "world.json"
    assert read_spec(path, now=1000.0).scenario == "normal"  # missing file: a normal world
    spec = parse_spec({
        "scenario": "slow-db", "since": 5.0, "epoch": 1.0,
        "pods": [{"name": "api-0", "service": "api", "version": "2.15.0"}],
        "releases": {"2.15.0": {"error_5xx": {"api": 0.2}}},
    })
    write_spec(path, spec)
    again = read_spec(path)
    assert again == spec
    assert again.effects_for(again.pods[0]).error_5xx["api"] == 0.2
    assert json.loads(path.read_text())["since_utc"] == "1970-01-01T00:00:05Z"
    for bad, message in (
        ({"scenario": "meteor"}, "unknown scenario"),
        ({"pods": {}}, "must be a list"),
        ({"pods": [{"name": "x", "service": "db"}]}, "service"),
        ({"since": "yesterday"}, "number"),
        ({"releases": {"1.0": {"error_5xx": {"nope": 1}}}}, "service to a number"),
        ([], "object"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_spec(bad)


def test_spec_watcher_keeps_the_last_good_world(tmp_path: Path) -> None:
    path = tmp_path / "world.json"
    write_spec(path, WorldSpec(scenario="oom", since=1.0, epoch=0.0))
    watcher = SpecWatcher(path)
    first = watcher.poll()
    assert first is not None and first.scenario == "oom"
    assert watcher.poll() is None  # unchanged
    path.write_text("{not json")
    assert watcher.poll() is None


# --------------------------------------------------------------------------- world and exporter


def test_exporter_exposes_exactly_the_contract() -> None:
    samples = exposed(world_at("normal", WEDNESDAY_PEAK))
    names = set(samples)
    expected = set()
    for family in FAMILIES:
        if family.kind == "histogram":
            expected |= {family.name + s for s in ("_bucket", "_count", "_sum")}
        else:
            expected.add(family.name)
    assert names == expected
    for family in FAMILIES:
        name = family.name + ("_count" if family.kind == "histogram" else "")
        for labels, _ in samples[name]:
            assert set(labels) == set(family.labels), family.name
    assert not [n for n in names if n.startswith(("container_", "kubelet_", "node_", "noa_pod_",
                                                  "noa_disk_"))]
    pods = {labels["pod"] for labels, _ in samples["noa_http_requests_total"]}
    assert pods == {"api-0", "api-1", "api-2", "worker-0", "worker-1", "web-0"}
    # Buckets are cumulative and +Inf equals the count.
    for labels, count in samples["noa_http_request_duration_seconds_count"]:
        buckets = [
            (float(b["le"]), v)
            for b, v in samples["noa_http_request_duration_seconds_bucket"]
            if all(b[k] == labels[k] for k in labels)
        ]
        values = [v for _, v in sorted(buckets)]
        assert values == sorted(values) and values[-1] == count


def test_normal_world_is_within_thresholds() -> None:
    s = exposed(world_at("normal", WEDNESDAY_PEAK))
    requests = s["noa_http_requests_total"]
    errors = sum(v for labels, v in requests if labels["status"].startswith("5"))
    assert errors / total(requests) < 0.01
    cadvisor = infra_exposed(world_at("normal", WEDNESDAY_PEAK), "cadvisor")
    quota = containers(cadvisor["container_spec_cpu_quota"])
    period = containers(cadvisor["container_spec_cpu_period"])
    cpu = containers(cadvisor["container_cpu_usage_seconds_total"])
    # 60 one-second steps: cumulative cores·s / 60 s is the mean usage in cores
    assert max(cpu[p] / 60.0 / (quota[p] / period[p]) for p in cpu) < 0.7
    usage = containers(cadvisor["container_memory_working_set_bytes"])
    limits = containers(cadvisor["container_spec_memory_limit_bytes"])
    assert set(usage) == {p.name for p in catalog.DEFAULT_PODS}
    assert max(usage[p] / limits[p] for p in usage) < 0.8
    assert max(v for _, v in s["noa_queue_depth"]) < 500
    assert {v for _, v in s["noa_ai_provider_circuit_breaker_state"]} == {0.0}
    hits = total(s["noa_cache_hits_total"])
    assert hits / (hits + total(s["noa_cache_misses_total"])) > 0.6


@pytest.mark.parametrize("name", [n for n in NAMES if n != "normal"])
def test_each_scenario_shows_its_effect(name: str) -> None:
    world = world_at(name, WEDNESDAY_PEAK, seconds=40)
    s = exposed(world)
    requests = s["noa_http_requests_total"]
    if name == "error-spike":
        errors = sum(v for labels, v in requests if labels["status"].startswith("5"))
        assert errors / total(requests) > 0.10
    elif name == "slow-db":
        median = model.latency_median(catalog.endpoints_of("api")[2], 1.0,
                                      SCENARIOS[name].effects)
        assert median > 1.5
    elif name == "pool-exhausted":
        in_use = {labels["pod"]: v for labels, v in s["noa_db_pool_connections_in_use"]}
        size = {labels["pod"]: v for labels, v in s["noa_db_pool_connections_max"]}
        assert in_use == size
    elif name == "ai-provider-down":
        ai = s["noa_ai_provider_requests_total"]
        failed = total(ai, provider="openai", status="error") + total(
            ai, provider="openai", status="timeout")
        assert failed / total(ai, provider="openai") > 0.8
        assert total(s["noa_ai_provider_circuit_breaker_state"], provider="openai") == 2
    elif name == "oom":
        cadvisor = infra_exposed(world, "cadvisor")
        assert containers(cadvisor["container_oom_events_total"])["worker-0"] >= 1
        assert containers(cadvisor["container_oom_events_total"])["worker-1"] == 0
        used = containers(cadvisor["container_memory_working_set_bytes"])["worker-0"]
        assert used / catalog.MEMORY_LIMIT["worker"] > 0.85
    elif name == "disk-filling":
        kubelet = infra_exposed(world, "kubelet")
        used = total(kubelet["kubelet_volume_stats_used_bytes"],
                     persistentvolumeclaim="noa-uploads")
        capacity = total(kubelet["kubelet_volume_stats_capacity_bytes"],
                         persistentvolumeclaim="noa-uploads")
        assert capacity == catalog.VOLUMES["web"][2] and used / capacity > 0.9
        other = total(kubelet["kubelet_volume_stats_used_bytes"],
                      persistentvolumeclaim="noa-worker-data")
        assert other / catalog.VOLUMES["worker"][2] < 0.7
    elif name == "queue-backlog":
        assert total(s["noa_queue_depth"], queue="default") > 1000


def test_pods_and_versions_follow_the_world_file() -> None:
    now = WEDNESDAY_PEAK
    world = world_at("normal", now, seconds=5)
    canary = (*catalog.DEFAULT_PODS, catalog.Pod("api-3", "api", "2.15.0"))
    bad = parse_spec({"releases": {"2.15.0": {"error_5xx": {"api": 0.5}}}}).releases
    world.apply(replace(world.spec, pods=canary, releases=bad))
    for i in range(30):
        world.step(now + i + 1, 1.0)
    requests = exposed(world)["noa_http_requests_total"]
    canary_errors = sum(v for labels, v in requests
                        if labels["pod"] == "api-3" and labels["status"].startswith("5"))
    assert canary_errors / total(requests, pod="api-3") > 0.3
    assert {labels["version"] for labels, _ in requests if labels["pod"] == "api-3"} == {"2.15.0"}
    world.apply(replace(world.spec, pods=catalog.DEFAULT_PODS[:2]))
    world.step(now + 40, 1.0)
    cadvisor = infra_exposed(world, "cadvisor")["container_memory_working_set_bytes"]
    assert set(containers(cadvisor)) == {"api-0", "api-1"}
    assert {labels["pod"] for labels, _ in exposed(world)["noa_db_pool_connections_in_use"]} == {
        "api-0", "api-1"}


# --------------------------------------------------------------------------- scenarios (files)


def test_set_scenario_validates_and_writes_the_world_file(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="accepted: normal, error-spike"):
        scenarios.set_scenario(tmp_path, "meteor")
    with pytest.raises(PreconditionFailed, match="not running"):
        scenarios.set_scenario(tmp_path, "oom")
    me = {"pid": os.getpid(), "pid_start": processes.process_start_time(os.getpid())}
    (tmp_path / "state.json").write_text(json.dumps({"version": 1, "simulator": me}))
    spec = scenarios.set_scenario(tmp_path, "oom", now=123.0)
    assert (spec.scenario, spec.since) == ("oom", 123.0)
    assert scenarios.current(tmp_path) == spec
    assert [s.name for s in scenarios.available()] == list(NAMES)


# --------------------------------------------------------------------------- history


def test_history_plan_places_incidents_and_releases() -> None:
    now = WEDNESDAY_PEAK + 7200
    timeline, incidents, deployments = history.plan(now)
    span = timeline.times[-1] - timeline.times[0]
    assert span >= 90 * DAY and timeline.times[-1] < now
    assert np.all(np.diff(timeline.times) == history.STEP_S)
    by_kind = {i.kind: i for i in incidents}
    assert set(by_kind) == {"error-spike", "latency-regression", "pool-exhausted"}
    spike = by_kind["error-spike"]
    assert spike.end - spike.start == 40 * 60
    assert 8 * DAY < now - spike.start < 10 * DAY
    assert spike.start_utc.endswith("T15:20:00Z")
    regression = by_kind["latency-regression"]
    assert [d.version for d in deployments if d.at == regression.start] == ["2.13.1"]
    assert timeline.versions[timeline.version_index[-1]] == catalog.DEFAULT_VERSION
    inside = (timeline.times >= spike.start) & (timeline.times < spike.end)
    assert inside.sum() == 40 * 60 / history.STEP_S
    assert set(timeline.effect_index[inside].tolist()) == {1}


def test_history_series_are_monotonic_counters_and_show_the_incidents() -> None:
    timeline, incidents, _ = history.plan(WEDNESDAY_PEAK)
    series = list(generate(timeline, np.random.default_rng(1)))
    families = [s.family.name for s in series]
    # Families are contiguous (OpenMetrics needs it).
    seen: list[str] = []
    for name in families:
        if not seen or seen[-1] != name:
            assert name not in seen, name
            seen.append(name)
    for s in series:
        if s.family.kind != "gauge":
            finite = s.values[np.isfinite(s.values)]
            assert np.all(np.diff(finite) >= 0), (s.name, s.labels)
    spike = next(i for i in incidents if i.kind == "error-spike")
    t = timeline.times

    def rate(status: str, at: float) -> float:
        i = int(np.searchsorted(t, at))
        out = 0.0
        for s in series:
            if (s.name == "noa_http_requests_total" and s.labels["status"] == status
                    and s.labels["service"] == "api" and math.isfinite(s.values[i])
                    and math.isfinite(s.values[i - 4])):
                out += (s.values[i] - s.values[i - 4]) / (t[i] - t[i - 4])
        return out

    during = spike.start + 1800
    before = spike.start - 3600
    assert rate("500", during) / rate("200", during) > 0.2
    assert rate("500", before) / rate("200", before) < 0.01


def test_history_can_be_skipped_and_is_described() -> None:
    assert history.describe(history.empty(100.0)) == "no backfilled history"
    timeline, incidents, deployments = history.plan(WEDNESDAY_PEAK)
    record = HistoryRecord(start=float(timeline.times[0]), end=float(timeline.times[-1]),
                           step_s=history.STEP_S, series=1, samples=1, seconds=1.0,
                           incidents=incidents, deployments=deployments)
    assert history.describe(record).startswith("91 days of history from ")
    assert "(3 past incidents)" in history.describe(record)
