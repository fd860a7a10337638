"""Likely causes from triage's signals, ranked, each naming the mitigation runbook to open (pure).

Every rule looks at the signals one cause leaves (NOA's incident runbook: the quick actions per
alert and the mitigations per issue type) and, when they are past its bar, scores the cause from
0 to 1 by how far past it they are. Causes that *explain* others come first: an exhausted pool,
an open AI breaker, OOM kills or a full volume produce errors and latency of their own, so the
generic ``high_error_rate`` / ``high_latency`` causes are discounted while one of them holds.

=====================  ==============================================  ==========================
cause                  signal (bar)                                    runbook
=====================  ==============================================  ==========================
complete outage        a service with no serving pod / no traffic      incident/complete_outage
pool exhausted         DB pool usage ≥ 90 %                            incident/db_pool_exhausted
AI provider down       provider errors > 25 % or breaker open          incident/ai_provider_failover
OOM kills              OOMKilled restarts in the window                incident/oom_kills
disk filling           a PVC ≥ 85 % full                               incident/disk_space
flood (DDoS)           a few API keys send most of a surge (request    incident/ddos
                       logs), or the rate ≥ 3× the same time yesterday
high error rate        a service > 10 % 5xx (seed: > 10 %)             incident/high_error_rate
high latency           p95 > 2 s (seed), or > 1 s with CPU > 70 %      incident/high_latency
queue backlog          a queue ≥ 500 jobs (seed: queue 500)            scaling/horizontal_scale
=====================  ==============================================  ==========================

:func:`rank_causes` returns them best first; a healthy system gives none.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from noa_lib.ops.triage_signals import Signals

POOL_BAR_PCT = 90.0
AI_ERROR_BAR_PCT = 25.0
BREAKER_OPEN = 2.0
DISK_BAR_PCT = 85.0
FLOOD_FACTOR = 3.0
FLOOD_MIN_RPS = 1.0
ERROR_BAR_PCT = 10.0
LATENCY_BAR_S = 2.0
LATENCY_CPU_BAR_S = 1.0
CPU_BAR_PCT = 70.0
QUEUE_BAR = 500.0
EXPLAINED_DISCOUNT = 0.5
"""Generic causes (errors, latency) count half while a cause that explains them holds."""
BAD_RELEASE_FACTOR = 3.0
"""A version failing this many times more than its service's others is a bad release."""


@dataclass(frozen=True)
class Flooder:
    """An API key behind a surge, as the request logs show it (:mod:`noa_lib.ops.talkers`)."""

    api_key_id: int
    org_id: int | None
    rps: float


@dataclass(frozen=True)
class Cause:
    """One likely cause: the runbook to open, with its parameters, and why (``evidence``)."""

    key: str
    title: str
    runbook: str
    score: float
    evidence: tuple[str, ...]
    parameters: Mapping[str, str] = field(default_factory=dict)
    explains: bool = False  # a specific cause that produces errors/latency of its own
    planned: bool = False  # the runbook belongs to a later part and may not exist yet

    def command(self, target: str, incident: str = "") -> str:
        """The ``noa run`` command that opens the runbook with these parameters (dry run)."""
        parts = ["noa", "run", self.runbook, "--target", target]
        if incident:
            parts += ["--incident", incident]
        for name, value in self.parameters.items():
            parts += ["-p", name, value]
        return shlex.join(parts)

    def as_dict(self, target: str, incident: str = "") -> dict[str, object]:
        """JSON-ready form (records, ``--json``)."""
        return {"key": self.key, "title": self.title, "runbook": self.runbook,
                "score": self.score, "evidence": list(self.evidence),
                "parameters": dict(self.parameters), "command": self.command(target, incident),
                "planned": self.planned}


def _over(value: float, bar: float, span: float) -> float:
    """0..1: how far ``value`` is past ``bar``, saturating ``span`` beyond it."""
    return max(0.0, min(1.0, (value - bar) / span))


def _score(base: float, extra: float) -> float:
    return round(min(1.0, base + (1.0 - base) * extra), 3)


def _outage(s: Signals, window: str) -> list[Cause]:
    rate, before, missing = s.get("request_rate"), s.get("baseline_request_rate"), \
        s.get("unavailable")
    return [Cause(
        "complete_outage", f"{service} is down: no traffic served", "incident/complete_outage",
        1.0, (f"{service} serves {rate.get(service, 0.0):g} req/s (a day ago "
              f"{before.get(service, 0.0):g} req/s)",
              f"{missing.get(service, 0.0):g} replica(s) of {service} unavailable"),
        {"service": service, "window": window}, explains=True)
        for service in s.services_down()]


def _pool(s: Signals, window: str) -> list[Cause]:
    worst = s.worst("pool_pct")
    if worst is None or worst[1] < POOL_BAR_PCT:
        return []
    service, pct = worst
    return [Cause("db_pool_exhausted", f"database connection pool exhausted ({service})",
                  "incident/db_pool_exhausted", _score(0.7, _over(pct, POOL_BAR_PCT, 10.0)),
                  (f"{service}'s pool {pct:g} % in use (≥ {POOL_BAR_PCT:g} %)",),
                  {"service": service, "window": window}, explains=True)]


def _ai(s: Signals, window: str) -> list[Cause]:
    errors, breakers = s.get("ai_error_pct"), s.get("breaker")
    failing = {p: errors.get(p, 0.0) for p in set(errors) | set(breakers)
               if errors.get(p, 0.0) > AI_ERROR_BAR_PCT or breakers.get(p, 0.0) >= BREAKER_OPEN}
    if not failing:
        return []
    provider = max(failing, key=lambda p: failing[p])
    pct = failing[provider]
    why = [f"{provider}: {pct:g} % of calls fail (> {AI_ERROR_BAR_PCT:g} %)"]
    if breakers.get(provider, 0.0) >= BREAKER_OPEN:
        why.append(f"{provider}'s circuit breaker is open")
    return [Cause("ai_provider_failover", f"AI provider {provider} failing",
                  "incident/ai_provider_failover",
                  _score(0.75, _over(pct, AI_ERROR_BAR_PCT, 50.0)), tuple(why),
                  {"provider": provider, "window": window}, explains=True)]


def _oom(s: Signals, window: str) -> list[Cause]:
    now, recent = s.get("oom_kills"), s.get("oom_recent")
    kills = {k: max(now.get(k, 0.0), recent.get(k, 0.0)) for k in set(now) | set(recent)}
    kills = {k: v for k, v in kills.items() if v >= 0.5}
    if not kills:
        return []
    service = max(kills, key=lambda k: kills[k])
    memory = s.get("memory_pct").get(service)
    span = window if now.get(service, 0.0) >= 0.5 else "15m"
    why = [f"{service}: {max(1, round(kills[service]))} OOMKilled restart(s) in {span} "
           "(containers running now)"]
    if memory is not None:
        why.append(f"{service}'s memory at {memory:g} % of its limit")
    return [Cause("oom_kills", f"{service} OOM-killed", "incident/oom_kills",
                  _score(0.75, _over(kills[service], 0.0, 4.0)), tuple(why),
                  {"service": service}, explains=True)]


def _disk(s: Signals, window: str) -> list[Cause]:
    worst = s.worst("disk_pct")
    if worst is None or worst[1] < DISK_BAR_PCT:
        return []
    pvc, pct = worst
    return [Cause("disk_space", f"volume {pvc} filling up", "incident/disk_space",
                  _score(0.6, _over(pct, DISK_BAR_PCT, 12.0)),
                  (f"PVC {pvc} {pct:g} % full (≥ {DISK_BAR_PCT:g} %)",), {"pvc": pvc},
                  explains=True)]


def _flood(s: Signals, window: str, flooders: Sequence[Flooder]) -> list[Cause]:
    if flooders:  # a few API keys send most of a surge (the request logs)
        rps = sum(f.rps for f in flooders)
        keys = ", ".join(f"key {f.api_key_id} (org {f.org_id}) {f.rps:g} req/s"
                         for f in flooders[:3])
        return [Cause("ddos", "traffic flood from a few API keys", "incident/ddos",
                      _score(0.8, _over(len(flooders), 0.0, 3.0)),
                      (f"{len(flooders)} API key(s) send {rps:g} req/s of a surge: {keys}",),
                      {"window": window}, explains=True)]
    now, before = s.get("request_rate"), s.get("baseline_request_rate")
    total_now, total_before = sum(now.values()), sum(before.values())
    if total_before < FLOOD_MIN_RPS or total_now < FLOOD_MIN_RPS:
        return []
    factor = total_now / total_before
    if factor < FLOOD_FACTOR:
        return []
    return [Cause("ddos", "traffic flood", "incident/ddos",
                  _score(0.6, _over(factor, FLOOD_FACTOR, 5.0)),
                  (f"{total_now:g} req/s now vs {total_before:g} req/s a day ago "
                   f"({factor:.1f}×, ≥ {FLOOD_FACTOR:g}×)",),
                  {"window": window}, explains=True)]


def _errors(s: Signals, window: str) -> list[Cause]:
    worst = s.worst("error_pct")
    if worst is None or worst[1] <= ERROR_BAR_PCT:
        return []
    service, pct = worst
    why = [f"{service}: {pct:g} % of responses are 5xx (> {ERROR_BAR_PCT:g} %)"]
    extra = _over(pct, ERROR_BAR_PCT, 20.0)
    bad = _bad_version(s, service)
    if bad is not None:
        why.append(bad)
        extra = 1.0
    return [Cause("high_error_rate", f"high error rate on {service}", "incident/high_error_rate",
                  _score(0.55, extra), tuple(why), {"service": service, "window": window})]


def _bad_version(s: Signals, service: str) -> str | None:
    """``"version 2.15.1 fails 31 % vs 0.2 %"`` when one version of ``service`` fails far more
    than its others."""
    versions = {k.split(" ", 1)[1]: v for k, v in s.get("version_error_pct").items()
                if k.startswith(f"{service} ") and " " in k}
    if len(versions) < 2:
        return None
    worst = max(versions, key=lambda v: versions[v])
    others = [v for k, v in versions.items() if k != worst]
    rest = max(others)
    if versions[worst] > ERROR_BAR_PCT and versions[worst] >= BAD_RELEASE_FACTOR * max(rest, 0.1):
        return f"version {worst} fails {versions[worst]:g} % vs {rest:g} % for the others"
    return None


def _latency(s: Signals, window: str) -> list[Cause]:
    worst = s.worst("latency_p95")
    if worst is None:
        return []
    service, p95 = worst
    cpu = s.get("cpu_pct").get(service, 0.0)
    if p95 > LATENCY_BAR_S:
        why = [f"{service}: p95 {p95:g} s (> {LATENCY_BAR_S:g} s)"]
        pool = s.get("pool_pct").get(service)
        if pool is not None:
            why.append(f"{service}'s pool {pool:g} % in use (slow queries hold connections)")
        score = _score(0.55, _over(p95, LATENCY_BAR_S, 3.0))
    elif p95 > LATENCY_CPU_BAR_S and cpu > CPU_BAR_PCT:
        why = [f"{service}: p95 {p95:g} s with CPU at {cpu:g} % of its limit "
               f"(> {CPU_BAR_PCT:g} %)"]
        score = _score(0.5, _over(cpu, CPU_BAR_PCT, 30.0))
    else:
        return []
    return [Cause("high_latency", f"high latency on {service}", "incident/high_latency", score,
                  tuple(why), {"service": service, "window": window})]


def _backlog(s: Signals, window: str) -> list[Cause]:
    worst = s.worst("queue_depth")
    if worst is None or worst[1] < QUEUE_BAR:
        return []
    queue, depth = worst
    cpu = s.get("cpu_pct").get("worker")
    why = [f"queue {queue}: {depth:g} jobs waiting (≥ {QUEUE_BAR:g})"]
    if cpu is not None:
        why.append(f"worker CPU at {cpu:g} % of its limit: too few workers")
    return [Cause("queue_backlog", f"queue {queue} backlog", "scaling/horizontal_scale",
                  _score(0.6, _over(depth, QUEUE_BAR, 1000.0)), tuple(why),
                  {"deployment": "worker"}, explains=True, planned=True)]


RULES: tuple[Callable[[Signals, str], list[Cause]], ...] = (
    _outage, _pool, _ai, _oom, _disk, _errors, _latency, _backlog,
)
GENERIC = frozenset({"high_error_rate", "high_latency"})


def rank_causes(signals: Signals, flooders: Sequence[Flooder] = ()) -> list[Cause]:
    """Every cause whose signals are past its bar, best first (``[]`` on a healthy system);
    ``flooders`` are the API keys behind a surge the request logs show."""
    found = [cause for rule in RULES for cause in rule(signals, signals.window)]
    found += _flood(signals, signals.window, flooders)
    if any(c.explains for c in found):
        found = [replace(c, score=round(c.score * EXPLAINED_DISCOUNT, 3),
                         evidence=(*c.evidence, "discounted: a more specific cause above "
                                   "explains errors and latency"))
                 if c.key in GENERIC else c for c in found]
    return sorted(found, key=lambda c: -c.score)  # stable: ties keep the rules' order


__all__ = ["Cause", "Flooder", "RULES", "rank_causes"]
