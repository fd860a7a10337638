"""Who sends the traffic: API keys by their share of the request log lines, the flood among them,
and a per-key rate limit that stops the flood but not the legitimate keys (pure logic).

The pods' request lines name ``org_id`` and ``api_key_id``; a key's share of those lines times the
request rate Prometheus measures is its request rate (logs are a sample, Prometheus counts).
:func:`find_flooders` takes the busiest keys, as long as they stand out, until they explain
the traffic above the baseline; :func:`propose_limit` proposes :data:`HEADROOM` × the busiest
legitimate key's rate.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from noa_lib.ops.logs.parse import LogLine

FLOOD_FACTOR = 1.5
"""Traffic at least this many times the baseline is a surge worth explaining."""
MIN_EXPLAINED = 0.5
"""The flooders must explain at least this share of the traffic above the baseline, or a per-key
limit would not help (a broad surge)."""
MAX_FLOODERS = 10
HEADROOM = 3.0
"""A proposed limit is this many times the busiest legitimate key's rate …"""
MIN_LIMIT = 1.0
"""… and at least this many requests per second."""
SEPARATION = 0.5
"""A limit must stay under this share of the slowest flooder's rate to stop the flood."""
CONCENTRATION = 0.10
"""Without a baseline in Prometheus, keys sending at least this share of the requests each are
not counted in the estimated baseline."""


@dataclass(frozen=True)
class Talker:
    """One API key: its log lines in the window, share of the keyed lines, estimated request
    rate (share × the measured rate) and how many of its lines were rejected (429)."""

    api_key_id: int
    org_id: int | None
    lines: int
    share: float
    rps: float
    rejected: int = 0


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def top_talkers(lines: Iterable[LogLine], *, total_rps: float) -> tuple[Talker, ...]:
    """Every API key of the request lines, busiest first (ties by key id).

    ``total_rps`` is the request rate the lines sample (Prometheus), spread by share.
    """
    counts: Counter[int] = Counter()
    rejected: Counter[int] = Counter()
    orgs: dict[int, int | None] = {}
    for line in lines:
        key = _int(line.fields.get("api_key_id"))
        if key is None:
            continue
        counts[key] += 1
        orgs.setdefault(key, _int(line.fields.get("org_id")))
        if _int(line.fields.get("status")) == 429:
            rejected[key] += 1
    total = sum(counts.values())
    if not total:
        return ()
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(Talker(key, orgs.get(key), n, round(n / total, 4),
                        round(n / total * total_rps, 3), rejected[key]) for key, n in ranked)


def find_flooders(talkers: tuple[Talker, ...], total_rps: float, baseline_rps: float
                  ) -> tuple[Talker, ...]:
    """The keys behind a surge: the busiest key, and each next one while it sends at least
    :data:`SEPARATION` × the slowest taken so far and the ones taken do not yet explain the
    traffic above the baseline (at most :data:`MAX_FLOODERS`). None when the traffic is under
    :data:`FLOOD_FACTOR` × the baseline, or when they explain less than :data:`MIN_EXPLAINED` of
    the excess (many keys at once, or legitimate growth: a per-key limit would not help)."""
    if baseline_rps <= 0 or total_rps < FLOOD_FACTOR * baseline_rps:
        return ()
    excess = total_rps - baseline_rps
    out: list[Talker] = []
    explained = 0.0
    for talker in talkers[:MAX_FLOODERS]:
        if out and (explained >= excess or talker.rps < SEPARATION * out[-1].rps):
            break
        out.append(talker)
        explained += talker.rps
    return tuple(out) if explained >= MIN_EXPLAINED * excess else ()


def estimate_baseline(talkers: tuple[Talker, ...], total_rps: float) -> float:
    """A baseline when Prometheus has none for the window ``baseline`` ago (a new cluster, a
    short retention): the traffic of the keys sending less than :data:`CONCENTRATION` of the
    requests each."""
    return max(0.0, total_rps - sum(t.rps for t in talkers if t.share >= CONCENTRATION))


def busiest_legitimate(talkers: tuple[Talker, ...], flooders: tuple[Talker, ...],
                       baseline_rps: float) -> float:
    """The busiest legitimate key's rate: now, or at the baseline (its share of the legitimate
    lines × the baseline rate), whichever is higher."""
    flood = {t.api_key_id for t in flooders}
    legit = [t for t in talkers if t.api_key_id not in flood]
    if not legit:
        return 0.0
    top = max(legit, key=lambda t: t.rps)
    lines = sum(t.lines for t in legit)
    at_baseline = top.lines / lines * baseline_rps if lines else 0.0
    return max(top.rps, at_baseline)


def propose_limit(talkers: tuple[Talker, ...], flooders: tuple[Talker, ...],
                  baseline_rps: float) -> float | None:
    """:data:`HEADROOM` × the busiest legitimate key's rate, rounded up to a whole number (at
    least :data:`MIN_LIMIT`); ``None`` without flooders or when that would not stop them (the
    limit reaches :data:`SEPARATION` × the slowest flooder's rate)."""
    if not flooders:
        return None
    limit = max(MIN_LIMIT, float(math.ceil(HEADROOM * busiest_legitimate(
        talkers, flooders, baseline_rps))))
    if limit >= SEPARATION * min(t.rps for t in flooders):
        return None
    return limit


__all__ = ["CONCENTRATION", "FLOOD_FACTOR", "HEADROOM", "SEPARATION", "Talker",
           "busiest_legitimate", "estimate_baseline", "find_flooders", "propose_limit",
           "top_talkers"]
