"""The simulated NOA Server without processes: model, world file, world, exporter text, history."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from noa_lib.errors import ParameterError, PreconditionFailed
from noa_sandbox import history, processes, releases, scenarios
from noa_sandbox.causes import ai_provider, ddos, pg_sessions
from noa_sandbox.history_series import generate
from noa_sandbox.kube import seed
from noa_sandbox.simulator import catalog, model
from noa_sandbox.simulator.exporter import ExporterCollector, SpecWatcher, WorldCollector, route
from noa_sandbox.simulator.families import FAMILIES
from noa_sandbox.simulator.scenarios import NAMES, SCENARIOS, Effects
from noa_sandbox.simulator.spec import WorldSpec, parse_spec, read_spec, write_spec
from noa_sandbox.simulator.world import World
from noa_sandbox.state import HistoryRecord

DAY = 86_400.0
# A Wednesday, 14:00 UTC (the daily peak), and the same day at 03:00.
WEDNESDAY_PEAK = 1_795_615_200.0
assert time.gmtime(WEDNESDAY_PEAK).tm_wday == 2 and time.gmtime(WEDNESDAY_PEAK).tm_hour == 14


def world_at(scenario: str, now: float, *, seconds: int = 60, since: float | None = None,
             state: Callable[[WorldSpec], WorldSpec] | None = None) -> World:
    """The world after ``seconds`` in ``scenario``; ``state`` adds what its cause makes real."""
    spec = WorldSpec(scenario=scenario, since=now - seconds if since is None else since,
                     epoch=now - 91 * DAY)
    world = World(state(spec) if state else spec, seed=7)
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
    spike = model.status_shares(api, history.ERROR_SPIKE_EFFECTS)
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


FLOOD = {"2455": 30.0, "2456": 24.0, "4138": 18.0}  # the ddos cause's keys and rates


def _sessions(app: str, state: str, n: int, wait: str | None = None) -> list[dict[str, object]]:
    return [{"app": app, "state": state, "wait_event_type": wait, "running_s": 5.0}] * n


DB_OBSERVED = {  # what pg_stat_activity shows under each database cause, as the observer sees it
    "pool-exhausted": pg_sessions.effects_of(
        _sessions("noa-api", "idle in transaction", 60)
        + _sessions("noa-worker", "idle in transaction", 20), {"api": 60, "worker": 20}),
    "slow-db": pg_sessions.effects_of(
        _sessions("noa-worker", "idle in transaction", 1)
        + _sessions("noa-api", "active", 3, "Lock") + _sessions("noa-worker", "active", 2, "Lock"),
        {"api": 60, "worker": 20}),
}


def small_worker_limit(spec: WorldSpec) -> WorldSpec:
    """What the ``oom`` cause makes: the worker containers' memory limit at 1 GiB."""
    containers, nodes, volumes = spec.infrastructure()
    small = tuple(replace(c, memory_limit=float(catalog.GIB)) if c.service == "worker" else c
                  for c in containers)
    return replace(spec, containers=small, nodes=nodes, volumes=volumes)


def uploads_written(spec: WorldSpec) -> WorldSpec:
    """What the ``disk-filling`` cause makes: 13 GiB written on noa-uploads (observed)."""
    return replace(spec, observed=Effects(volume_used={"noa-uploads": 13.0 * catalog.GIB}))


def observing(effects: Effects) -> Callable[[WorldSpec], WorldSpec]:
    """What a cause the simulator observes makes: ``effects`` in the world's observed ones."""
    return lambda spec: replace(spec, observed=effects)


def bad_api_release(spec: WorldSpec) -> WorldSpec:
    """What the ``error-spike`` cause makes: the api pods on a release marked bad (30 % 5xx)."""
    pods = tuple(replace(p, version="2.15.1") if p.service == "api" else p for p in spec.pods)
    return replace(spec, pods=pods, releases=MappingProxyType(
        {**spec.releases, "2.15.1": releases.bad_effects(0.30, 0.0)}))


def no_api_pod(spec: WorldSpec) -> WorldSpec:
    """What ``complete-outage`` makes: every api pod crashing, so none serves."""
    return replace(spec, pods=tuple(p for p in spec.pods if p.service != "api"))


CAUSED = {"oom": small_worker_limit, "disk-filling": uploads_written,
          "error-spike": bad_api_release, "complete-outage": no_api_pod,
          **{name: observing(effects) for name, effects in {
              **DB_OBSERVED,
              "ai-provider-down": ai_provider.effects_of("openai", frozenset({"openai"})),
              "ddos": ddos.effects_of(FLOOD, 0.0)}.items()}}


@pytest.mark.parametrize("name", [n for n in NAMES if n != "normal"])
def test_each_scenario_shows_its_effect(name: str) -> None:
    # scenarios with a real cause show what the state they create makes the simulator do
    world = world_at(name, WEDNESDAY_PEAK, seconds=40, state=CAUSED.get(name))
    s = exposed(world)
    requests = s["noa_http_requests_total"]
    if name == "error-spike":
        api = [(labels, v) for labels, v in requests if labels["service"] == "api"]
        errors = sum(v for labels, v in api if labels["status"].startswith("5"))
        assert errors / sum(v for _, v in api) > 0.10
    elif name == "complete-outage":
        assert not [v for labels, v in requests if labels["service"] == "api"]
        assert total(requests, service="web") > 0
    elif name == "slow-db":
        median = model.latency_median(catalog.endpoints_of("api")[2], 1.0,
                                      world.spec.effects)
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
        pod_level = {labels["pod"]: v for labels, v in cadvisor["container_oom_events_total"]
                     if labels["pod"] and not labels["container"]}
        assert pod_level["worker-0"] >= 1 and pod_level["worker-1"] >= 1  # both undersized
        assert pod_level["api-0"] == 0
        assert containers(cadvisor["container_oom_events_total"])["worker-0"] >= 1
        used = containers(cadvisor["container_memory_working_set_bytes"])["worker-0"]
        assert used / catalog.GIB > 0.85
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
    elif name == "ddos":
        normal = total(exposed(world_at("normal", WEDNESDAY_PEAK, seconds=40))[
            "noa_http_requests_total"], service="api")
        assert total(requests, service="api") > 2.5 * normal
        assert total(requests, status="429") == 0  # no per-key limit in force
        errors = sum(v for labels, v in requests if labels["status"].startswith("5"))
        assert errors / total(requests, service="api") > 0.05


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
    # a scenario still simulated as effects (those with a real cause need the whole sandbox)
    spec = scenarios.set_scenario(tmp_path, "queue-backlog", now=123.0)
    assert (spec.scenario, spec.since) == ("queue-backlog", 123.0)
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


# --------------------------------------------------------------------------- cluster exporters


def test_cadvisor_has_pod_and_root_cgroups_so_forgetting_container_double_counts() -> None:
    world = world_at("normal", WEDNESDAY_PEAK, seconds=20)
    ws = infra_exposed(world, "cadvisor")["container_memory_working_set_bytes"]
    per_container = sum(v for labels, v in ws if labels["container"])
    pod_level = [labels for labels, _ in ws if labels["pod"] and not labels["container"]]
    roots = [labels for labels, _ in ws if labels["id"] == "/"]
    assert len(pod_level) == len(catalog.DEFAULT_PODS) and len(roots) == len(catalog.NODES)
    assert all(not labels["pod"] and not labels["namespace"] for labels in roots)
    assert all(labels["image"] == "" for labels in pod_level)
    # what `sum(container_memory_working_set_bytes{namespace="noa"})` without container!="" adds
    naive = sum(v for labels, v in ws if labels["namespace"] == "noa")
    assert naive > 1.95 * per_container
    # the root cgroup holds every container of its node and the system's share
    for node in catalog.NODES:
        root = next(v for labels, v in ws if labels["id"] == "/" and labels["_node"] == node)
        mine = sum(v for labels, v in ws if labels["container"] and labels["_node"] == node)
        assert root > mine
    usage = containers(infra_exposed(world, "cadvisor")["container_memory_usage_bytes"])
    assert all(usage[p] >= v for p, v in containers(ws).items())
    assert route("/kubelet/sandbox-node-2/metrics/cadvisor") == ("cadvisor", "sandbox-node-2")
    assert route("/node-exporter/sandbox-node-1/metrics") == ("node-exporter", "sandbox-node-1")
    assert route("/metrics") is None and route("/kubelet/x/metrics/other") is None


def test_cpu_follows_the_limit_and_throttling_grows_near_it() -> None:
    calm = world_at("normal", WEDNESDAY_PEAK - 11 * 3600, seconds=60)  # 03:00, low load
    cadvisor = infra_exposed(calm, "cadvisor")
    periods = containers(cadvisor["container_cpu_cfs_periods_total"])
    throttled = containers(cadvisor["container_cpu_cfs_throttled_periods_total"])
    assert set(periods) == {p.name for p in catalog.DEFAULT_PODS}
    assert all(v == pytest.approx(600, abs=2) for v in periods.values())  # 60 s / 100 ms
    assert sum(throttled.values()) == 0
    world = world_at("normal", WEDNESDAY_PEAK, seconds=5)
    heavy = parse_spec({"releases": {catalog.DEFAULT_VERSION: {"cpu_extra": {"api": 0.5}}}})
    world.apply(replace(world.spec, releases=heavy.releases))
    for i in range(60):
        world.step(WEDNESDAY_PEAK + i + 1, 1.0)
    hot = containers(infra_exposed(world, "cadvisor")["container_cpu_cfs_throttled_periods_total"])
    assert min(hot[p] for p in hot if p.startswith("api")) > 50
    assert max(hot[p] for p in hot if not p.startswith("api")) < 5


def test_idle_pods_and_node_exporter_follow_the_containers() -> None:
    world = world_at("normal", WEDNESDAY_PEAK, seconds=5)
    containers_, nodes_, volumes_ = world.spec.infrastructure()
    green = replace(containers_[0], pod="api-green", uid="u-green", serving=False)
    world.apply(replace(world.spec, containers=(*containers_, green), nodes=nodes_,
                        volumes=volumes_))
    for i in range(60):
        world.step(WEDNESDAY_PEAK + i + 1, 1.0)
    cpu = {s.info.pod: s.cpu_cores for s in world.infra.containers.values()}
    assert cpu["api-green"] < 0.6 * cpu["api-0"]  # running, no traffic: idle
    node = world.infra.nodes[green.node]
    mine = sum(v for k, v in cpu.items()
               if world.infra.containers[(k, "api" if k.startswith("api") else k.split("-")[0])
                                         ].info.node == green.node)
    assert node.busy_cores == pytest.approx(mine + 0.12, abs=0.05)
    ne = infra_exposed(world, "node-exporter", (green.node,))
    modes = {labels["mode"] for labels, _ in ne["node_cpu_seconds_total"]}
    assert modes == {"idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"}
    assert {labels["cpu"] for labels, _ in ne["node_cpu_seconds_total"]} == {"0", "1", "2", "3"}
    busy = sum(v for labels, v in ne["node_cpu_seconds_total"] if labels["mode"] != "idle")
    everything = sum(v for _, v in ne["node_cpu_seconds_total"])
    assert everything == pytest.approx(65 * 4, rel=0.02)  # 65 one-second steps × 4 cpus
    assert busy == pytest.approx(node.root_cpu_seconds, rel=0.05)
    memory = {name: v for name in ("node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes",
                                   "node_memory_MemFree_bytes") for _, v in ne[name]}
    assert memory["node_memory_MemTotal_bytes"] > memory["node_memory_MemAvailable_bytes"] > (
        memory["node_memory_MemFree_bytes"])
    assert {labels["mountpoint"] for labels, _ in ne["node_filesystem_size_bytes"]} == {"/"}
    kubelet = infra_exposed(world, "kubelet")
    assert sum(v for _, v in kubelet["kubelet_running_pods"]) == len(catalog.DEFAULT_PODS) + 1


def test_history_carries_the_cluster_families_thirty_days_back() -> None:
    timeline, _, _ = history.plan(WEDNESDAY_PEAK)
    series = list(generate(timeline, np.random.default_rng(1)))
    names = {s.name for s in series}
    assert not {n for n in names if n.startswith(("noa_pod_", "noa_disk_"))}
    back = int(np.searchsorted(timeline.times, timeline.times[-1] - 30 * DAY))
    recent = {s.name for s in series if np.isfinite(s.values[back:back + 2]).any()}
    wanted = {
        "kube_pod_info", "kube_pod_owner", "kube_pod_labels", "kube_pod_status_phase",
        "kube_pod_container_resource_requests", "kube_pod_container_resource_limits",
        "kube_pod_container_status_restarts_total", "kube_deployment_spec_replicas",
        "kube_deployment_status_replicas_available", "kube_replicaset_owner",
        "kube_horizontalpodautoscaler_spec_max_replicas", "kube_node_status_allocatable",
        "kube_node_status_condition", "kube_persistentvolumeclaim_info",
        "kube_persistentvolumeclaim_resource_requests_storage_bytes", "kube_job_status_succeeded",
        "kube_cronjob_next_schedule_time", "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes", "kubelet_volume_stats_used_bytes",
        "kubelet_volume_stats_capacity_bytes", "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes", "node_filesystem_avail_bytes", "node_load1",
        "node_uname_info"}
    assert wanted <= recent, wanted - recent
    everywhere = {"kube_pod_container_status_waiting_reason",
                  "kube_pod_container_status_last_terminated_reason",
                  "kube_pod_container_status_last_terminated_exitcode",
                  "kube_pod_container_status_last_terminated_timestamp",
                  "kube_pod_spec_volumes_persistentvolumeclaims_info", "kube_job_owner",
                  "kube_cronjob_status_last_schedule_time", "kube_horizontalpodautoscaler_info",
                  "kubelet_running_pods", "node_boot_time_seconds"}
    assert everywhere <= names, everywhere - names
    by = {(s.name, tuple(sorted(s.labels.items()))): s for s in series}
    pods = {s.labels["pod"] for s in series if s.name == "kube_pod_info"}
    assert all(len(p.split("-")) == 3 and len(p.split("-")[1]) == 10 for p in pods)
    # a new set of pods per release era; the rollback to 2.13.0 reuses its ReplicaSet (hash)
    assert len(pods) == sum(seed.REPLICAS.values()) * (len(history.DEPLOYMENTS) + 1)
    assert len({s.labels["created_by_name"] for s in series if s.name == "kube_pod_info"
                and s.labels["pod"].startswith("web")}) == len(history.DEPLOYMENTS)
    restarts = [s for (name, _), s in by.items()
                if name == "kube_pod_container_status_restarts_total"]
    assert max(np.nanmax(s.values) for s in restarts) == 2
    used = [s.values for s in series if s.name == "kubelet_volume_stats_used_bytes"]
    assert all(np.nanmax(v[-100:]) > np.nanmin(v[:100]) for v in used)
    allocatable = [s.values for s in series if s.name == "kube_node_status_allocatable"]
    assert all(np.nanmin(v) == np.nanmax(v) for v in allocatable)
    labels = next(s.labels for s in series if s.name == "container_cpu_usage_seconds_total")
    assert labels["job"] == "kubelet" and labels["metrics_path"] == "/metrics/cadvisor"
    assert labels["instance"].endswith(":10250") and labels["endpoint"] == "https-metrics"
