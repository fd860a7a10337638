"""The live world model: the pods, the versions they run, the scenario, and every series' value.

:meth:`World.step` advances the world by ``dt`` seconds at wall time ``now`` (counters grow by
rate × dt, gauges are set), following :mod:`.model` and the :class:`~.spec.WorldSpec`.
:meth:`World.snapshot` hands the exporter a consistent copy. Scenario dynamics that unfold over
time (a memory leak and its OOM kills, a volume filling, a queue growing) are functions of the time
since the scenario started. The cluster underneath (containers, nodes, volumes as cAdvisor, the
kubelets and node-exporter report them) lives in :attr:`World.infra` (:mod:`.infra`);
:meth:`World.exporter_families` renders one node's endpoint.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import Metric

from noa_sandbox.simulator import catalog, exporters, memory, model
from noa_sandbox.simulator.cache import Counts, model_counts, whole
from noa_sandbox.simulator.catalog import Pod
from noa_sandbox.simulator.infra import Infra
from noa_sandbox.simulator.scenarios import Effects
from noa_sandbox.simulator.spec import WorldSpec

Labels = tuple[str, ...]

OOM_CYCLE_S = 20.0
"""A leaking pod is OOM-killed every this many seconds (the first kill ~8 s after the switch)."""
_OOM_PHASE_S = 12.0
BACKLOG_START = 1100.0
BACKLOG_PER_S = 45.0
BACKLOG_MAX = 20_000.0


def oom_kills(elapsed: float) -> int:
    """OOM kills a leaking pod has had ``elapsed`` seconds after the ``oom`` scenario began (the
    sandbox cluster restarts its pod on the same cycle)."""
    return int((elapsed + _OOM_PHASE_S) // OOM_CYCLE_S)


@dataclass
class Histogram:
    """Cumulative bucket counts (one per bound in ``LATENCY_BUCKETS``), count and sum."""

    buckets: list[float] = field(default_factory=lambda: [0.0] * len(catalog.LATENCY_BUCKETS))
    count: float = 0.0
    total: float = 0.0

    def add(self, n: float, shares: list[float], mean: float) -> None:
        for i, share in enumerate(shares):
            self.buckets[i] += n * share
        self.count += n
        self.total += n * mean


@dataclass(frozen=True)
class Snapshot:
    """Every series' value at one moment: family name -> label values -> value/histogram."""

    values: dict[str, dict[Labels, float]]
    histograms: dict[str, dict[Labels, Histogram]]


def _cdf(bound: float, median: float, sigma: float = catalog.LATENCY_SIGMA) -> float:
    return 0.5 * (1.0 + math.erf((math.log(bound) - math.log(median)) / (sigma * math.sqrt(2))))


class World:
    """The simulated NOA Server at the current time. Thread-safe (one lock)."""

    def __init__(
        self,
        spec: WorldSpec,
        *,
        seed: int | None = None,
        caches: Callable[[Mapping[str, int]], Counts] = model_counts,
    ) -> None:
        """``caches`` answers each tick's cache lookups (hits, misses per cache): the real Redis
        traffic of :class:`~.cache.RedisCaches` in the simulator, the hit ratios by default."""
        self._caches = caches
        self._lock = threading.Lock()
        self._rng = random.Random(seed)  # noqa: S311 - simulation noise, not secrets
        self.spec = spec
        self._values: dict[str, dict[Labels, float]] = {}
        self._hist: dict[str, dict[Labels, Histogram]] = {}
        self._oom_kills_seen: dict[str, int] = {}
        self.infra = Infra(self._rng)

    # ------------------------------------------------------------------ public API

    def apply(self, spec: WorldSpec) -> None:
        """Follow a new world file (scenario, pods, releases)."""
        with self._lock:
            if spec.scenario != self.spec.scenario or spec.since != self.spec.since:
                self._oom_kills_seen = {}
            self.spec = spec

    def step(self, now: float, dt: float) -> None:
        """Advance the world by ``dt`` seconds ending at unix time ``now``."""
        with self._lock:
            level = model.load(now, self.spec.epoch) * (1.0 + self._rng.gauss(0.0, 0.03))
            self._forget_gone_pods()
            for pod in self.spec.pods:
                self._step_pod(pod, now, dt, max(level, 0.01))
            self._step_shared(now, dt, max(level, 0.01))
            self._step_infra(now, dt, max(level, 0.01))

    def exporter_families(self, endpoint: str, node: str, now: float) -> list[Metric] | None:
        """One node's families of ``endpoint`` (``cadvisor``, ``kubelet``, ``node-exporter``);
        ``None`` for an unknown node or endpoint."""
        with self._lock:
            return exporters.render(self.infra, endpoint, node, now)

    def snapshot(self) -> Snapshot:
        """A consistent copy of every series."""
        with self._lock:
            values = {name: dict(series) for name, series in self._values.items()}
            hist = {
                name: {
                    labels: Histogram(list(h.buckets), h.count, h.total)
                    for labels, h in series.items()
                }
                for name, series in self._hist.items()
            }
        return Snapshot(values, hist)

    # ------------------------------------------------------------------ helpers

    def _replicas(self, service: str) -> int:
        return max(1, sum(1 for p in self.spec.pods if p.service == service))

    def _elapsed(self, now: float) -> float:
        return max(0.0, now - self.spec.since)

    def _jitter(self, n: float, spread: float = 0.06) -> float:
        return max(0.0, n * (1.0 + self._rng.gauss(0.0, spread)))

    def _add(self, family: str, labels: Labels, n: float) -> None:
        series = self._values.setdefault(family, {})
        series[labels] = series.get(labels, 0.0) + n

    def _set(self, family: str, labels: Labels, value: float) -> None:
        self._values.setdefault(family, {})[labels] = value

    def _observe(
        self, family: str, labels: Labels, n: float, shares: list[float], mean: float
    ) -> None:
        self._hist.setdefault(family, {}).setdefault(labels, Histogram()).add(n, shares, mean)

    def _forget_gone_pods(self) -> None:
        """Drop series of pods (or pod versions) that no longer run, as a real scrape would."""
        live = {(p.name, p.version) for p in self.spec.pods}
        names = {p.name for p in self.spec.pods}
        hist = self._hist.get("noa_http_request_duration_seconds", {})
        for labels in [k for k in hist if (k[3], k[2]) not in live]:
            del hist[labels]
        reqs = self._values.get("noa_http_requests_total", {})
        for labels in [k for k in reqs if (k[5], k[4]) not in live]:
            del reqs[labels]
        for family, series in self._values.items():
            if family == "noa_http_requests_total":
                continue
            pod_at = _POD_LABEL_INDEX.get(family)
            if pod_at is not None:
                for labels in [k for k in series if k[pod_at] not in names]:
                    del series[labels]

    # ------------------------------------------------------------------ per pod

    def _step_pod(self, pod: Pod, now: float, dt: float, level: float) -> None:
        effects = self.spec.effects_for(pod)
        share = 1.0 / self._replicas(pod.service)
        for endpoint in catalog.endpoints_of(pod.service):
            n = self._jitter(model.endpoint_rps(endpoint, level) * share * dt)
            for status, part in model.status_shares(endpoint, effects).items():
                labels = (
                    pod.service,
                    endpoint.path,
                    endpoint.method,
                    status,
                    pod.version,
                    pod.name,
                )
                self._add("noa_http_requests_total", labels, n * part)
            median = model.latency_median(endpoint, level, effects)
            shares = [_cdf(b, median) for b in catalog.LATENCY_BUCKETS]
            self._observe(
                "noa_http_request_duration_seconds",
                (pod.service, endpoint.path, pod.version, pod.name),
                n,
                shares,
                model.lognormal_mean(median),
            )
        if pod.service == "api" and effects.flood_rps:
            self._step_flood(pod, dt, level, share, effects)
        # Demand is shared by the replicas: more pods, less load on each.
        defaults = sum(1 for p in catalog.DEFAULT_PODS if p.service == pod.service)
        self._pod_resources(pod, now, level * defaults * share, effects)

    def _step_flood(self, pod: Pod, dt: float, level: float, share: float,
                    effects: Effects) -> None:
        """The ddos flood's requests this pod answers: admitted ones as usual, the ones above the
        per-key rate limit as fast 429s."""
        endpoint = next(e for e in catalog.ENDPOINTS if e.path == model.FLOOD_PATH)
        split = model.flood_split(effects).values()
        admitted = self._jitter(sum(a for a, _ in split) * share * dt)
        rejected = self._jitter(sum(r for _, r in split) * share * dt)
        parts = dict(model.status_shares(endpoint, effects))
        for status, part in [*((s, admitted * p) for s, p in parts.items()), ("429", rejected)]:
            if part > 0:
                labels = (pod.service, endpoint.path, endpoint.method, status, pod.version,
                          pod.name)
                self._add("noa_http_requests_total", labels, part)
        key = (pod.service, endpoint.path, pod.version, pod.name)
        median = model.latency_median(endpoint, level, effects)
        self._observe("noa_http_request_duration_seconds", key, admitted,
                      [_cdf(b, median) for b in catalog.LATENCY_BUCKETS],
                      model.lognormal_mean(median))
        fast = model.REJECT_MEDIAN_S
        self._observe("noa_http_request_duration_seconds", key, rejected,
                      [_cdf(b, fast) for b in catalog.LATENCY_BUCKETS], model.lognormal_mean(fast))

    def _pod_resources(self, pod: Pod, now: float, level: float, effects: Effects) -> None:
        key = (pod.service, pod.name)
        if pod.service in catalog.POOL_MAX:
            size = float(catalog.POOL_MAX[pod.service])
            in_use = model.pool_in_use(pod.service, level, effects,
                                       self._replicas(pod.service))
            if in_use < size:
                in_use = min(size - 1, max(0.0, round(in_use + self._rng.gauss(0.0, 0.8))))
            self._set("noa_db_pool_connections_in_use", key, in_use)
            self._set("noa_db_pool_connections_max", key, size)

    def _step_infra(self, now: float, dt: float, level: float) -> None:
        """The containers, nodes and volumes; the OOM-killed pods' memory and their kills: the
        pod the scenario's ``oom_pod`` names and every container whose memory limit is too small
        for it (:func:`.memory.undersized`), killed on the :func:`oom_kills` cycle."""
        effects = self.spec.effects
        containers = self.spec.infrastructure()[0]
        looping = {c.pod for c in containers if memory.undersized(c.service, c.memory_limit)}
        named = catalog.resolve_pod(effects.oom_pod, self.spec.pods)
        if named is not None:
            looping.add(named)
        oom: dict[str, tuple[float, int]] = {}
        elapsed = self._elapsed(now)
        kills = oom_kills(elapsed)
        phase = (elapsed + _OOM_PHASE_S) % OOM_CYCLE_S
        share = 0.86 + 0.125 * min(phase / 10.0, 1.0)
        for pod in sorted(looping):
            seen = self._oom_kills_seen.setdefault(pod, kills if pod != named else 0)
            oom[pod] = (share, max(0, kills - seen))
            self._oom_kills_seen[pod] = max(kills, seen)
        for pod in [p for p in self._oom_kills_seen if p not in looping]:
            del self._oom_kills_seen[pod]
        self.infra.step(self.spec, now, dt, level, oom=oom, effects=effects)

    # ------------------------------------------------------------------ shared services

    def _step_shared(self, now: float, dt: float, level: float) -> None:
        effects = self.spec.effects
        api_rps = sum(model.endpoint_rps(e, level) for e in catalog.endpoints_of("api"))
        lookups = {
            cache: whole(self._jitter(api_rps * per_request * dt), self._rng)
            for cache, (per_request, _) in catalog.CACHES.items()
        }
        for cache, (hits, misses) in self._caches(lookups).items():
            self._add("noa_cache_hits_total", (cache,), float(hits))
            self._add("noa_cache_misses_total", (cache,), float(misses))
        for queue in catalog.QUEUES:
            depth = self._jitter(model.queue_depth(queue, level), 0.15)
            if effects.backlog_queue == queue:
                depth = min(BACKLOG_MAX, BACKLOG_START + BACKLOG_PER_S * self._elapsed(now))
            self._set("noa_queue_depth", (queue,), float(round(depth)))
        self._step_ai(dt, level, effects)

    def _step_ai(self, dt: float, level: float, effects: Effects) -> None:
        calls = self._jitter(model.ai_calls(level) * dt)
        shares = model.provider_shares(effects)
        for provider in catalog.PROVIDERS:
            n = calls * shares[provider.name]
            results = model.ai_status_shares(provider, effects)
            for status, part in results.items():
                self._add(
                    "noa_ai_provider_requests_total",
                    (provider.name, provider.model, status),
                    n * part,
                )
            self._observe(
                "noa_ai_provider_request_duration_seconds",
                (provider.name,),
                n,
                [model.ai_bucket_share(provider, effects, b) for b in catalog.LATENCY_BUCKETS],
                model.ai_mean_duration(provider, effects),
            )
            cost = n * results["ok"] * provider.usd_per_call
            self._add("noa_ai_provider_cost_usd_total", (provider.name,), cost)
            self._set(
                "noa_ai_provider_circuit_breaker_state",
                (provider.name,),
                float(model.breaker_state(provider, effects)),
            )


_POD_LABEL_INDEX = {
    "noa_db_pool_connections_in_use": 1,
    "noa_db_pool_connections_max": 1,
}

__all__ = ["Histogram", "Snapshot", "World", "oom_kills"]
