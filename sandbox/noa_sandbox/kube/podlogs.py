"""Pod logs of the simulated NOA Server: JSON lines, generated, the same on every read.

NOA Server logs one JSON object per line::

    {"ts": "2026-11-27T01:02:03.123Z", "level": "error", "logger": "noa.api",
     "msg": "Unhandled exception in /api/v1/chat: KeyError 'choices'", "path": "/api/v1/chat",
     "status": 500, "duration_ms": 84, "request_id": "7f3a…",
     "org_id": 17, "api_key_id": 49}

Lines are a function of (pod uid, container, second) and of the effects in force at that second
(the scenario since it began, the release the pod runs), so repeated reads agree and a window
grows as time passes. A few request lines per second per pod; the share of ``error`` lines is the
pod's modelled 5xx share (:func:`noa_sandbox.simulator.model.status_shares`), and their
messages name the cause with varying numbers (ids, milliseconds) — a bad release's exception, the
AI provider's 503s, an open circuit breaker, an exhausted ``QueuePool``, slow queries,
``MemoryError``. A container's log starts with its start-up lines (the effective configuration
among them: the container's environment as its spec sets it); ``previous`` gives the last
terminated container's log, ending with its crash (a traceback, or the OOM kill).

:func:`render` honours ``tailLines``, ``sinceSeconds``, ``sinceTime``, ``timestamps`` (an
RFC 3339 nano prefix), ``limitBytes`` and ``previous``; windows longer than :data:`MAX_WINDOW_S`
are cut to their end.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring

from noa_sandbox.kube import worldinfra
from noa_sandbox.kube.errors import bad_request
from noa_sandbox.kube.floodlines import Flood
from noa_sandbox.kube.hooks import LogQuery, Obj
from noa_sandbox.kube.worldsync import component, pod_version
from noa_sandbox.simulator import catalog, model
from noa_sandbox.simulator.catalog import Endpoint, Pod
from noa_sandbox.simulator.scenarios import SCENARIOS, Effects
from noa_sandbox.simulator.spec import WorldSpec

MAX_WINDOW_S = 6 * 3600
LINES_PER_S = {"api": 3.0, "worker": 1.2, "web": 2.0}
ORGANIZATIONS = 2000
"""Organizations in the seeded database (``data.sql``); request lines name one of them."""
LOGGERS = {"api": "noa.api", "worker": "noa.worker", "web": "noa.web"}

_BAD_RELEASE = (
    "Unhandled exception in {path}: KeyError 'choices'",
    "Unhandled exception in {path}: TypeError: 'NoneType' object is not subscriptable",
    "Unhandled exception in {path}: AttributeError: 'ChatResponse' object has no attribute "
    "'usage_tokens'",
)


def parse_time(text: str | None) -> float | None:
    """Unix seconds of an RFC 3339 time, or ``None``."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


_PREFIX_CACHE: dict[int, str] = {}


def _ts(t: float) -> str:
    whole = math.floor(t)
    prefix = _PREFIX_CACHE.get(whole)
    if prefix is None:
        if len(_PREFIX_CACHE) > 4096:
            _PREFIX_CACHE.clear()
        prefix = _PREFIX_CACHE[whole] = datetime.fromtimestamp(whole, UTC).strftime(
            "%Y-%m-%dT%H:%M:%S")
    ms = min(int((t - whole) * 1000), 999)
    return f"{prefix}.{ms:03d}Z"


def _nano(t: float) -> str:
    return _ts(t)[:-1] + "000000Z"


def _status(container: str, pod: Obj) -> Obj:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == container:
            return dict(cs)
    return {}


def _window(pod: Obj, query: LogQuery, now: float) -> tuple[float, float, str | None] | None:
    """``(start, end, how it ended)`` of the container run to show, or ``None`` (no log)."""
    cs = _status(query.container, pod)
    state = cs.get("state") or {}
    last = (cs.get("lastState") or {}).get("terminated")
    name = pod["metadata"]["name"]
    if query.previous:
        if not last:
            raise bad_request(
                f'previous terminated container "{query.container}" in pod "{name}" not found'
            )
        run = last
    elif "running" in state:
        start = parse_time(state["running"].get("startedAt"))
        return None if start is None else (start, now, None)
    elif "terminated" in state:
        run = state["terminated"]
    elif last:  # waiting to restart (CrashLoopBackOff): the last run's log
        run = last
    elif "waiting" in state:
        reason = state["waiting"].get("reason", "ContainerCreating")
        why = "trying and failing to pull image" if "Image" in reason else reason
        raise bad_request(
            f'container "{query.container}" in pod "{name}" is waiting to start: {why}'
        )
    else:
        return None
    start = parse_time(run.get("startedAt"))
    end = parse_time(run.get("finishedAt"))
    if start is None or end is None:
        return None
    return start, end + 0.999, str(run.get("reason") or "Error")


def effective_config(pod: Obj, container: str) -> list[str]:
    """``NAME=value`` for each environment variable of ``container`` in ``pod``'s spec, as NOA
    Server logs them at start-up: literal values as they are (a value set in the Deployment shows
    up in the log), references (``valueFrom``) as their source, never resolved."""
    out: list[str] = []
    for spec in pod.get("spec", {}).get("containers", []):
        if spec.get("name") != container:
            continue
        for env in spec.get("env") or []:
            if "value" in env:
                out.append(f"{env['name']}={env['value']}")
            elif "valueFrom" in env:
                out.append(f"{env['name']}=<{_reference(env['valueFrom'])}>")
    return out


def _reference(ref: Obj) -> str:
    """``secretKeyRef noa-db-credentials/password``, ``fieldRef metadata.name``, …"""
    source, spec = next(iter(ref.items()), ("ref", {}))
    if not isinstance(spec, dict):
        return str(source)
    if "name" in spec and "key" in spec:
        return f"{source} {spec['name']}/{spec['key']}"
    detail = spec.get("fieldPath") or spec.get("resource") or spec.get("name") or ""
    return f"{source} {detail}".strip()


def _effects_at(spec: WorldSpec, pod: Pod, t: float) -> Effects:
    release = spec.releases.get(pod.version)
    base = SCENARIOS[spec.scenario].effects if t >= spec.since else Effects()
    if t >= spec.observed_since:
        base = base.merged(spec.observed)
    return base if release is None else base.merged(release)


@dataclass(frozen=True)
class _Route:
    """An endpoint under some effects: cumulative status thresholds and median duration."""

    endpoint: Endpoint
    e500: float
    e503: float
    e404: float
    median_s: float


def _routes(endpoints: tuple[Endpoint, ...], effects: Effects) -> list[_Route]:
    out = []
    for e in endpoints:
        shares = model.status_shares(e, effects)
        out.append(_Route(
            e, shares["500"], shares["500"] + shares["503"],
            shares["500"] + shares["503"] + shares["404"],
            float(model.latency_median(e, 1.0, effects)),
        ))
    return out


def _caller(rng: random.Random) -> tuple[int, int]:
    """The organization and API key of one request: the seeded data's ids (organizations
    1..:data:`ORGANIZATIONS`, keys ``3(o-1)+1..3``), a few large organizations sending most of the
    traffic."""
    org = 1 + int(ORGANIZATIONS * rng.random() ** 3)
    return org, 3 * (org - 1) + 1 + int(rng.random() * 2)


class _Generator:
    """Lines of one container run."""

    def __init__(self, pod: Obj, container: str, spec: WorldSpec, start: float, end: float,
                 ended: str | None) -> None:
        self.uid = str(pod["metadata"].get("uid") or pod["metadata"]["name"])
        self.service = component(pod) or "api"
        self.sim_pod = Pod(pod["metadata"]["name"], self.service, pod_version(pod))
        self.spec = spec
        self.start = start
        self.end = end
        self.ended = ended
        self.seed = zlib.crc32(f"{self.uid}/{container}".encode())
        self.endpoints = catalog.endpoints_of(self.service)
        self.cumulative = list(itertools.accumulate(e.share for e in self.endpoints))
        # the effects change when the scenario began and when the observed ones last changed
        bounds = sorted({spec.since, spec.observed_since} if not spec.observed.empty
                        else {spec.since})
        self.phases: list[tuple[float, Effects, list[_Route]]] = []
        for start, at in [(-math.inf, bounds[0] - 1), *((b, b) for b in bounds)]:
            effects = _effects_at(spec, self.sim_pod, at)
            self.phases.append((start, effects, _routes(self.endpoints, effects)))
        self.flood_route = next((r for r in _routes(
            catalog.endpoints_of("api"), self.phases[-1][1])
            if r.endpoint.path == model.FLOOD_PATH), None)
        self.logger = LOGGERS[self.service]
        self.oom_target = catalog.resolve_pod(
            spec.effects.oom_pod, spec.pods
        ) == self.sim_pod.name or worldinfra.undersized(pod)
        self.memory_limit = worldinfra.memory_limit(pod) or catalog.MEMORY_LIMIT[self.service]
        self.crash = spec.info(self.sim_pod.version).crash
        self.config = effective_config(pod, container)

    def second(self, s: int) -> list[tuple[float, str]]:
        """The lines logged during second ``s`` (unix), in time order, within the window."""
        rng = random.Random(self.seed * 1_000_003 + s)  # noqa: S311 - log noise, not secrets
        lines: list[tuple[float, str]] = []
        first = math.floor(self.start)
        if s == first:
            lines.extend(self._startup(rng))
        if self.crash:
            if s == first:
                lines.extend(self._crash(rng))
            return [(t, line) for t, line in lines if self.start <= t <= self.end]
        _, effects, routes = next(p for p in reversed(self.phases) if s >= p[0])
        flood = Flood.of(effects, s, self.spec.epoch) if self.service == "api" else None
        rate = LINES_PER_S[self.service] * (1.0 if flood is None else flood.lines_factor)
        count = int(rate + rng.random() * rate)
        times = sorted(s + rng.random() for _ in range(count))
        for t in times:
            if flood is not None and self.flood_route is not None and rng.random() < flood.share:
                lines.append((t, self._flood_request(rng, t, flood, effects)))
            else:
                lines.append((t, self._request(rng, t, effects, routes)))
        if self.ended == "OOMKilled" and s == math.floor(self.end):
            lines.extend(self._oom_end(rng, float(s)))
        return [(t, line) for t, line in lines if self.start <= t <= self.end]

    def _line(self, t: float, level: str, msg: str, **extra: object) -> str:
        body: dict[str, object] = {"ts": _ts(t), "level": level,
                                   "logger": LOGGERS[self.service], "msg": msg}
        body.update(extra)
        return json.dumps(body)

    def _startup(self, rng: random.Random) -> Iterator[tuple[float, str]]:
        t = self.start + 0.05
        version = self.sim_pod.version
        yield t, self._line(t, "info", f"Starting NOA Server {version} ({self.service})")
        t += 0.02
        if self.config:
            yield t, self._line(t, "info", "effective configuration: " + " ".join(self.config))
        t += 0.1 + rng.random() * 0.1
        pool = catalog.POOL_MAX.get(self.service)
        if pool is not None:
            yield t, self._line(t, "info", f"database pool ready (size {pool}, overflow 10)")
            t += 0.05
        yield t, self._line(t, "info", "Listening on 0.0.0.0:8080")

    def _crash(self, rng: random.Random) -> Iterator[tuple[float, str]]:
        t = self.start + 0.4 + rng.random() * 0.2
        yield t, self._line(
            t, "critical", "Unhandled exception during startup",
            exc_info="Traceback (most recent call last):\n  File \"/app/noa/server.py\", line "
            f"{rng.randint(80, 140)}, in main\n    settings = Settings.from_env()\n  File "
            "\"/app/noa/settings.py\", line 57, in from_env\n    provider = "
            "env[\"NOA_AI_PROVIDER_PRIMARY_URL\"]\nKeyError: 'NOA_AI_PROVIDER_PRIMARY_URL'",
        )
        yield t + 0.01, self._line(t + 0.01, "info", "Shutting down: exit code 1")

    def _oom_end(self, rng: random.Random, s: float) -> Iterator[tuple[float, str]]:
        limit = int(self.memory_limit) >> 20
        t = s + 0.5
        yield t, self._line(t, "warning",
                            f"memory usage {limit - rng.randint(5, 30)} MiB of {limit} MiB limit")
        yield t + 0.2, self._line(
            t + 0.2, "error",
            f"MemoryError: unable to allocate {rng.choice((32, 64, 128))}.0 MiB for job "
            f"{rng.randint(100000, 999999)}",
        )
        yield t + 0.4, self._line(
            t + 0.4, "critical",
            f"Worker (pid:{rng.randint(7, 99)}) was sent SIGKILL! Perhaps out of memory?",
        )

    def _request(self, rng: random.Random, t: float, effects: Effects,
                 routes: list[_Route]) -> str:
        pick = rng.random() * self.cumulative[-1]
        route = routes[min(bisect.bisect_right(self.cumulative, pick), len(routes) - 1)]
        endpoint = route.endpoint
        r = rng.random()
        if r < route.e500:
            status = 500
        elif r < route.e503:
            status = 503
        elif r < route.e404:
            status = 404
        else:
            status = 200
        duration = route.median_s * math.exp(catalog.LATENCY_SIGMA * rng.gauss(0.0, 1.0))
        duration_ms = max(1, int(duration * 1000))
        request_id = f"{rng.getrandbits(64):016x}"
        org_id, api_key_id = _caller(rng)
        ids = (request_id, org_id, api_key_id)
        if status >= 500:
            msg = self._error(rng, endpoint, status, effects)
            return self._fast(t, "error", msg, endpoint, status, duration_ms, ids)
        if endpoint.db_bound and effects.extra_latency_s.get(self.service, 0.0) > 0 and (
            duration_ms > 1000
        ):
            query = rng.choice((
                "SELECT * FROM messages WHERE conversation_id = $1 ORDER BY created_at",
                "SELECT count(*) FROM usage_events WHERE organization_id = $1",
                "UPDATE conversations SET updated_at = now() WHERE id = $1",
            ))
            ms = int(duration_ms * (0.7 + 0.25 * rng.random()))
            return self._fast(t, "warning", f"slow query {ms} ms: {query}", endpoint, status,
                              duration_ms, ids)
        if status == 404:
            return self._fast(t, "info", "not found", endpoint, status, duration_ms, ids)
        return self._fast(t, "info", "request completed", endpoint, status, duration_ms, ids)

    def _flood_request(self, rng: random.Random, t: float, flood: Flood,
                       effects: Effects) -> str:
        """A request of the ddos flood: one of its keys, 429 above the per-key limit."""
        route = self.flood_route
        assert route is not None
        key = flood.pick(rng)
        ids = (f"{rng.getrandbits(64):016x}", (key - 1) // 3 + 1, key)
        if rng.random() < flood.rejected_share[key]:
            return self._fast(t, "warning", f"rate limit exceeded for api key {key}: limit "
                              f"{effects.rate_limit_rps:g} req/s", route.endpoint, 429,
                              max(1, int(model.REJECT_MEDIAN_S * 1000 * (0.5 + rng.random()))),
                              ids)
        r = rng.random()
        status = 500 if r < route.e500 else 503 if r < route.e503 else 200
        duration = route.median_s * math.exp(catalog.LATENCY_SIGMA * rng.gauss(0.0, 1.0))
        duration_ms = max(1, int(duration * 1000))
        if status >= 500:
            msg = self._error(rng, route.endpoint, status, effects)
            return self._fast(t, "error", msg, route.endpoint, status, duration_ms, ids)
        return self._fast(t, "info", "request completed", route.endpoint, status, duration_ms,
                          ids)

    def _fast(self, t: float, level: str, msg: str, endpoint: Endpoint, status: int,
              duration_ms: int, ids: tuple[str, int, int]) -> str:
        """A request line (the same JSON as :meth:`_line`, formatted without ``json.dumps``)."""
        request_id, org_id, api_key_id = ids
        return (
            f'{{"ts": "{_ts(t)}", "level": "{level}", "logger": "{self.logger}", "msg": '
            f'{encode_basestring(msg)}, "path": "{endpoint.path}", "method": '
            f'"{endpoint.method}", "status": {status}, "duration_ms": {duration_ms}, '
            f'"request_id": "{request_id}", "org_id": {org_id}, "api_key_id": {api_key_id}}}'
        )

    def _error(self, rng: random.Random, endpoint: Endpoint, status: int,
               effects: Effects) -> str:
        release = self.spec.releases.get(self.sim_pod.version)
        causes: list[tuple[float, str]] = []
        if release is not None and release.error_5xx.get(self.service):
            causes.append((release.error_5xx[self.service],
                           rng.choice(_BAD_RELEASE).format(path=endpoint.path)))
        scenario = self.spec.effects
        weight = scenario.error_5xx.get(self.service, 0.0)
        ms = rng.randint(200, 9000)
        if self.service in effects.pool_full:
            causes.append((weight, "QueuePool limit of size 20 overflow 10 reached, connection "
                                   "timed out, timeout 30.00"))
        elif effects.ai_down or effects.ai_primary in effects.ai_failing:
            provider = effects.ai_down or effects.ai_primary
            causes.append((weight, f"circuit breaker open for provider {provider}: "
                                   f"{rng.randint(3, 60)} failures in the last 60 s"))
        elif effects.flood_rps:
            causes.append((weight, f"request timed out after {ms} ms: server overloaded "
                                   f"({rng.randint(200, 900)} requests in flight)"))
        elif self.oom_target or (scenario.oom_pod and self.service == "worker"):
            causes.append((weight, f"MemoryError: unable to allocate {rng.randint(8, 256)}.0 MiB"
                                   f" for job {rng.randint(100000, 999999)}"))
        elif weight:
            provider = rng.choice(("openai", "openai", "anthropic"))
            causes.append((weight, f"upstream error from ai provider {provider}: 503 after "
                                   f"{ms} ms (attempt {rng.randint(1, 3)}/3)"))
        causes = [(w, m) for w, m in causes if w > 0]
        if not causes:
            return (f"Unhandled exception in {endpoint.path}: ConnectionResetError: [Errno 104] "
                    f"Connection reset by peer (after {ms} ms)")
        total = sum(w for w, _ in causes)
        pick = rng.random() * total
        for weight_, message in causes:
            pick -= weight_
            if pick <= 0:
                return message
        return causes[-1][1]


def render(pod: Obj, query: LogQuery, spec: WorldSpec, now: float) -> str:
    """The log text of ``query.container`` in ``pod`` at unix time ``now``.

    Raises:
        ApiError: 400 when ``previous`` has no terminated container, or the container is waiting
            to start (an image that cannot be pulled).
    """
    window = _window(pod, query, now)
    if window is None:
        return ""
    start, end, ended = window
    since = start
    if query.since_seconds is not None:
        since = max(since, now - query.since_seconds)
    since_time = parse_time(query.since_time)
    if since_time is not None:
        since = max(since, since_time)
    since = max(since, end - MAX_WINDOW_S)
    if since > end:
        return ""
    gen = _Generator(pod, query.container, spec, start, end, ended)
    first, last = math.floor(since), math.floor(end)
    picked: list[tuple[float, str]] = []
    if query.tail_lines is not None:
        wanted = max(query.tail_lines, 0)
        s = last
        chunks: list[list[tuple[float, str]]] = []
        have = 0
        while s >= first and have < wanted:
            chunk = [x for x in gen.second(s) if x[0] >= since]
            chunks.append(chunk)
            have += len(chunk)
            s -= 1
        for chunk in reversed(chunks):
            picked.extend(chunk)
        picked = picked[len(picked) - wanted:] if wanted else []
    else:
        for s in range(first, last + 1):
            picked.extend(x for x in gen.second(s) if x[0] >= since)
    if query.timestamps:
        text = "".join(f"{_nano(t)} {line}\n" for t, line in picked)
    else:
        text = "".join(f"{line}\n" for _, line in picked)
    if query.limit_bytes is not None and query.limit_bytes >= 0:
        text = text.encode()[: query.limit_bytes].decode(errors="ignore")
    return text


__all__ = ["MAX_WINDOW_S", "parse_time", "render"]
