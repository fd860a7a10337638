"""The series of the backfilled history, computed for every step at once with numpy.

The set is reduced to keep the backfill fast: HTTP requests and latency histograms per *service*
(labels ``service``, ``status``/``le``, ``version`` — no ``pod``, ``endpoint`` or ``method``),
DB pools per pod, queues, caches and AI-provider calls (ok and error) and cost (Redis and
PostgreSQL: :mod:`noa_sandbox.history_datastores`; the cluster's exporters:
:mod:`noa_sandbox.history_cluster`). Latency histograms keep the buckets in
:data:`HISTORY_BUCKETS`. Not backfilled: AI latency histograms and circuit breakers.
Every series carries ``job="noa-server"``, ``instance="noa-server"`` and ``namespace="noa"``,
like the live scrape. The cluster's series (kube-state-metrics, cAdvisor, kubelet, node-exporter)
come from :mod:`noa_sandbox.history_cluster`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from noa_sandbox.simulator import catalog, model
from noa_sandbox.simulator.catalog import Endpoint, Provider
from noa_sandbox.simulator.families import BY_NAME, Family
from noa_sandbox.simulator.scenarios import Effects

Array = npt.NDArray[Any]

HISTORY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0)
"""The latency buckets kept in the history (a subset of the live ones, enough for p95/p99)."""
HISTORY_AI_STATUSES = ("ok", "error")

COMMON_LABELS = {"job": "noa-server", "instance": "noa-server", "namespace": "noa"}


@dataclass(frozen=True)
class Series:
    """One series: its family, sample name, labels, values (one per step; NaN = no sample)."""

    family: Family
    name: str
    labels: dict[str, str]
    values: Array
    decimals: int = 0


@dataclass(frozen=True)
class Timeline:
    """Per step: the time, the traffic level, which effects apply and which version runs."""

    times: Array
    level: Array
    effects: tuple[Effects, ...]
    effect_index: np.ndarray
    versions: tuple[str, ...]
    version_index: np.ndarray
    epoch: float

    def per_effects(self, fn: Callable[[Effects, np.ndarray], Array]) -> Array:
        """``fn(effects, mask)`` evaluated on the steps of each effects set, stitched together."""
        out = np.zeros_like(self.times)
        for k, effects in enumerate(self.effects):
            mask = self.effect_index == k
            if mask.any():
                out[mask] = fn(effects, mask)
        return out


def _family(name: str) -> Family:
    return BY_NAME[name]


def _counter(rate: Array, step: float) -> Array:
    result: Array = np.round(np.cumsum(rate * step))
    return result


def generate(tl: Timeline, rng: np.random.Generator) -> Iterator[Series]:
    """Every history series, family by family (the order OpenMetrics needs)."""
    step = float(tl.times[1] - tl.times[0])
    yield from _http(tl, step)
    yield from _pods(tl, rng)
    yield from _shared(tl, rng, step)
    from noa_sandbox.history_cluster import generate_cluster  # it builds on this module

    yield from generate_cluster(tl, rng)


@dataclass(frozen=True)
class _Rate:
    """A per-service rate (per second, per step) before it is split by version."""

    family: Family
    name: str
    service: str
    extra: dict[str, str]
    rate: Array
    decimals: int = 0


def _over_endpoints(
    tl: Timeline, service: str, term: Callable[[Endpoint, Array, Effects], Array]
) -> Array:
    """``sum(term(endpoint, level, effects))`` over the endpoints of ``service``, per step."""

    def total(effects: Effects, mask: np.ndarray) -> Array:
        level: Array = tl.level[mask]
        out: Array = np.zeros_like(level)
        for endpoint in catalog.endpoints_of(service):
            out = out + term(endpoint, level, effects)
        return out

    return tl.per_effects(total)


def _status_term(status: str, e: Endpoint, level: Array, eff: Effects) -> Array:
    result: Array = model.endpoint_rps(e, level) * model.status_shares(e, eff)[status]
    return result


def _rps_term(e: Endpoint, level: Array, eff: Effects) -> Array:
    return model.endpoint_rps(e, level)


def _bucket_term(bound: float, e: Endpoint, level: Array, eff: Effects) -> Array:
    median = model.latency_median(e, level, eff)
    result: Array = model.endpoint_rps(e, level) * model.lognormal_cdf(bound, median)
    return result


def _seconds_term(e: Endpoint, level: Array, eff: Effects) -> Array:
    median = model.latency_median(e, level, eff)
    result: Array = model.endpoint_rps(e, level) * model.lognormal_mean(median)
    return result


def _http_rates(tl: Timeline, service: str) -> Iterator[_Rate]:
    requests = _family("noa_http_requests_total")
    duration = _family("noa_http_request_duration_seconds")
    for status in catalog.STATUSES:
        rate = _over_endpoints(tl, service, partial(_status_term, status))
        yield _Rate(requests, requests.name, service, {"status": status}, rate)
    count = _over_endpoints(tl, service, _rps_term)
    bucket = duration.name + "_bucket"
    for le, bound in zip(catalog.BUCKET_LABELS, catalog.LATENCY_BUCKETS, strict=True):
        if bound not in HISTORY_BUCKETS:
            continue
        within = _over_endpoints(tl, service, partial(_bucket_term, bound))
        yield _Rate(duration, bucket, service, {"le": le}, np.minimum(within, count))
    yield _Rate(duration, bucket, service, {"le": "+Inf"}, count)
    yield _Rate(duration, duration.name + "_count", service, {}, count)
    seconds = _over_endpoints(tl, service, _seconds_term)
    yield _Rate(duration, duration.name + "_sum", service, {}, seconds, 3)


def _http(tl: Timeline, step: float) -> Iterator[Series]:
    rates = [r for service in catalog.SERVICES for r in _http_rates(tl, service)]
    # Each version's series exists only while that version runs; its counter starts at 0.
    for family_name in ("noa_http_requests_total", "noa_http_request_duration_seconds"):
        for r in rates:
            if r.family.name != family_name:
                continue
            for v, version in enumerate(tl.versions):
                mask = tl.version_index == v
                if not mask.any():
                    continue
                values = np.full_like(r.rate, np.nan)
                values[mask] = np.cumsum(r.rate[mask] * step)
                labels = {**COMMON_LABELS, "service": r.service, **r.extra, "version": version}
                yield Series(r.family, r.name, labels, np.round(values, r.decimals), r.decimals)


def _pods(tl: Timeline, rng: np.random.Generator) -> Iterator[Series]:
    pods = catalog.DEFAULT_PODS

    def gauge(
        name: str,
        pod_values: Callable[[catalog.Pod, int], Array],
        decimals: int = 0,
        only: Callable[[catalog.Pod], bool] = lambda p: True,
    ) -> Iterator[Series]:
        family = _family(name)
        for index, pod in enumerate(pods):
            if not only(pod):
                continue
            labels = {**COMMON_LABELS, "service": pod.service, "pod": pod.name}
            yield Series(family, name, labels, np.round(pod_values(pod, index), decimals), decimals)

    def noise(scale: float) -> Array:
        return rng.normal(0.0, scale, tl.times.shape)

    def in_use(pod: catalog.Pod, index: int) -> Array:
        size = catalog.POOL_MAX[pod.service]
        used = tl.per_effects(lambda e, m: model.pool_in_use(pod.service, tl.level[m], e))
        jittered = np.clip(np.round(used + noise(0.8)), 0, size - 1)
        return np.where(used >= size, float(size), jittered)

    has_pool: Callable[[catalog.Pod], bool] = lambda p: p.service in catalog.POOL_MAX  # noqa: E731
    yield from gauge("noa_db_pool_connections_in_use", in_use, only=has_pool)
    yield from gauge(
        "noa_db_pool_connections_max",
        lambda p, i: np.full_like(tl.times, float(catalog.POOL_MAX[p.service])),
        only=has_pool,
    )


def _shared(tl: Timeline, rng: np.random.Generator, step: float) -> Iterator[Series]:
    common = COMMON_LABELS
    family = _family("noa_queue_depth")
    for queue in catalog.QUEUES:
        depth = model.queue_depth(queue, tl.level) * (1 + rng.normal(0.0, 0.15, tl.times.shape))
        yield Series(
            family, family.name, {**common, "queue": queue}, np.round(np.maximum(depth, 0))
        )
    api_rps: Array = np.zeros_like(tl.level)
    for endpoint in catalog.endpoints_of("api"):
        api_rps = api_rps + model.endpoint_rps(endpoint, tl.level)
    for name, hit in (("noa_cache_hits_total", True), ("noa_cache_misses_total", False)):
        family = _family(name)
        for cache, (per_request, ratio) in catalog.CACHES.items():
            share = ratio if hit else 1.0 - ratio
            values = _counter(api_rps * per_request * share, step)
            yield Series(family, name, {**common, "cache": cache}, values)
    yield from _ai(tl, step)


def _ai(tl: Timeline, step: float) -> Iterator[Series]:
    common = COMMON_LABELS
    calls = model.ai_calls(tl.level)
    requests = _family("noa_ai_provider_requests_total")
    cost = _family("noa_ai_provider_cost_usd_total")
    for provider in catalog.PROVIDERS:
        for status in HISTORY_AI_STATUSES:

            def ai_rate(
                effects: Effects,
                mask: np.ndarray,
                status: str = status,
                provider: Provider = provider,
            ) -> Array:
                share = model.provider_shares(effects)[provider.name]
                part = model.ai_status_shares(provider, effects)[status]
                result: Array = calls[mask] * share * part
                return result

            labels = {
                **common,
                "provider": provider.name,
                "model": provider.model,
                "status": status,
            }
            yield Series(requests, requests.name, labels, _counter(tl.per_effects(ai_rate), step))
    for provider in catalog.PROVIDERS:

        def spend(effects: Effects, mask: np.ndarray, provider: Provider = provider) -> Array:
            share = model.provider_shares(effects)[provider.name]
            ok = model.ai_status_shares(provider, effects)["ok"]
            result: Array = calls[mask] * share * ok * provider.usd_per_call
            return result

        values = np.round(np.cumsum(tl.per_effects(spend) * step), 4)
        yield Series(cost, cost.name, {**common, "provider": provider.name}, values, 4)


__all__ = ["COMMON_LABELS", "Series", "Timeline", "generate"]
