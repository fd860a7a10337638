"""NOA Server's caches as real Redis traffic: what the simulator's cache counters count.

Each tick the world asks for a number of lookups per cache (:data:`catalog.CACHES`: lookups per
API request × API traffic). :class:`RedisCaches` turns them into one pipelined round of ``GET``s;
every miss is filled with ``SET … EX``, session hits slide their expiry with ``EXPIRE``, and a
small share of lookups invalidates a key with ``DEL`` (logouts, changed API answers). Hits and
misses are what Redis answered.

The key space: each cache has a *hot* population (:class:`CacheSpec`: key count, value size,
TTL) that a lookup hits while the key exists, and one-off *cold* keys (short TTL) for the share
of lookups that miss by nature (``1 - hit ratio``). Populations are filled in batches of
:data:`WARM_BATCH` keys per tick after every (re)connection, so used memory settles near 40 % of
``maxmemory`` (256 MiB) within seconds.

When Redis cannot be reached every lookup counts as a miss; this is logged once, and once again
when Redis answers. The endpoint file and password file are re-read at every reconnection.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from noa_sandbox.simulator import catalog

log = logging.getLogger("noa.simulator.cache")

WARM_BATCH = 4000
COLD_TTL_S = 120
DEL_SHARE = 0.01
RETRY_S = 3.0
Counts = dict[str, tuple[int, int]]
"""Cache name -> (hits, misses) of one tick."""


@dataclass(frozen=True)
class CacheSpec:
    """The key space of one cache: prefix, hot keys, value size, TTL, sliding expiry."""

    prefix: str
    keys: int
    value_bytes: int
    ttl_s: int
    sliding: bool


SPECS = {
    "session": CacheSpec("noa:session:", 24_000, 1000, 7200, sliding=True),
    "api_response": CacheSpec("noa:api:", 8_000, 8000, 86_400, sliding=False),
}
"""Together ~95 MB of values: ~40 % of the sandbox Redis' 256 MiB."""


def model_counts(lookups: Mapping[str, int]) -> Counts:
    """Hits and misses from the catalogue's hit ratios alone (no Redis: unit tests, history)."""
    out: Counts = {}
    for cache, n in lookups.items():
        hits = round(n * catalog.CACHES[cache][1])
        out[cache] = (hits, n - hits)
    return out


def whole(n: float, rng: random.Random) -> int:
    """``n`` rounded up or down at random so the mean stays ``n``."""
    low = math.floor(n)
    return low + (1 if rng.random() < n - low else 0)


class RedisCaches:
    """Runs the caches' lookups against Redis; call :meth:`lookups` once per tick."""

    def __init__(
        self, endpoint_file: Path, password_file: Path, *, seed: int | None = None
    ) -> None:
        self._endpoint_file = endpoint_file
        self._password_file = password_file
        self._rng = random.Random(seed)  # noqa: S311 - key choice, not secrets
        self._client: Any = None
        self._down_since: float | None = None
        self._next_try = 0.0
        self._warmed: dict[str, int] = {}
        self._values = {name: b"v" * spec.value_bytes for name, spec in SPECS.items()}

    def lookups(self, wanted: Mapping[str, int]) -> Counts:
        """Do ``wanted[cache]`` lookups per cache; returns what hit and missed.

        Never raises for Redis trouble: when Redis is unreachable every lookup is a miss.
        """
        import redis

        client = self._connect()
        if client is None:
            return {cache: (0, n) for cache, n in wanted.items()}
        try:
            self._warm(client)
            counts = self._round(client, wanted)
        except (redis.RedisError, OSError) as exc:
            self._lost(exc)
            return {cache: (0, n) for cache, n in wanted.items()}
        if self._down_since is not None:
            log.info("Redis answers again (after %.0fs)", time.time() - self._down_since)
            self._down_since = None
        return counts

    def _round(self, client: Any, wanted: Mapping[str, int]) -> Counts:
        plan: list[tuple[str, str, bool]] = []
        pipe = client.pipeline(transaction=False)
        for cache, n in wanted.items():
            spec = SPECS[cache]
            ratio = catalog.CACHES[cache][1]
            for _ in range(n):
                hot = self._rng.random() < ratio
                key = self._hot_key(spec) if hot else self._cold_key(spec)
                pipe.get(key)
                plan.append((cache, key, hot))
        answers = pipe.execute() if plan else []
        counts = {cache: [0, 0] for cache in wanted}
        pipe = client.pipeline(transaction=False)
        for (cache, key, hot), value in zip(plan, answers, strict=True):
            spec = SPECS[cache]
            if value is None:
                counts[cache][1] += 1
                pipe.set(key, self._values[cache], ex=spec.ttl_s if hot else COLD_TTL_S)
            else:
                counts[cache][0] += 1
                if spec.sliding:
                    pipe.expire(key, spec.ttl_s)
        for cache, n in wanted.items():
            for _ in range(whole(n * DEL_SHARE, self._rng)):
                pipe.delete(self._hot_key(SPECS[cache]))
        pipe.execute()
        return {cache: (hits, misses) for cache, (hits, misses) in counts.items()}

    def _cold_key(self, spec: CacheSpec) -> str:
        return f"{spec.prefix}x:{self._rng.getrandbits(48):x}"

    def _hot_key(self, spec: CacheSpec) -> str:
        return f"{spec.prefix}{self._rng.randrange(spec.keys)}"

    def _warm(self, client: Any) -> None:
        """Fill the hot populations (``SET NX EX``), :data:`WARM_BATCH` keys per call."""
        budget = WARM_BATCH
        pipe = None
        for cache, spec in SPECS.items():
            done = self._warmed.get(cache, 0)
            if done >= spec.keys or budget <= 0:
                continue
            upto = min(spec.keys, done + budget)
            pipe = pipe or client.pipeline(transaction=False)
            for i in range(done, upto):
                ttl = spec.ttl_s - self._rng.randrange(spec.ttl_s // 4)  # staggered expiry
                pipe.set(f"{spec.prefix}{i}", self._values[cache], ex=ttl, nx=True)
            budget -= upto - done
            self._warmed[cache] = upto
        if pipe is not None:
            pipe.execute()

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        now = time.monotonic()
        if now < self._next_try:
            return None
        self._next_try = now + RETRY_S
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        try:
            endpoint = json.loads(self._endpoint_file.read_text())
            password = self._password_file.read_text().strip()
            client = redis.Redis(
                host=str(endpoint["host"]),
                port=int(endpoint["port"]),
                password=password,
                socket_timeout=2.0,
                socket_connect_timeout=1.0,
                client_name="noa-server",
                retry=Retry(NoBackoff(), 0),  # fail fast: a tick must not wait for retries
            )
            client.ping()
        except (OSError, ValueError, KeyError, TypeError, redis.RedisError) as exc:
            self._lost(exc)
            return None
        self._client = client
        self._warmed = {}  # a restarted Redis is empty: fill the populations again
        log.info("using Redis at %s:%s for the caches", endpoint["host"], endpoint["port"])
        return client

    def _lost(self, exc: BaseException) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # noqa: BLE001 - closing a broken client
                log.debug("closing the Redis client failed", exc_info=True)
        self._client = None
        if self._down_since is None:
            self._down_since = time.time()
            log.warning(
                "Redis unreachable (%s): counting every cache lookup as a miss until it answers",
                type(exc).__name__,
            )


__all__ = ["SPECS", "CacheSpec", "Counts", "RedisCaches", "model_counts", "whole"]
