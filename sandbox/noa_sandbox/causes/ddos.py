"""Cause of ``ddos``: a flood of ``/api/v1/chat`` requests from three API keys of two
organizations, and no per-key rate limit in force.

The flood comes from outside NOA, so the cause records it as the clients' state,
``<state>/flood.json`` (``{"keys": {"<api key id>": <requests per second>}}``; keys of the seeded
data: organization ``o`` has keys ``3(o-1)+1..3``), and removes ``RATE_LIMIT_PER_KEY_RPS`` from
ConfigMap ``noa/noa-config`` when it is set (the value found is kept in ``causes.json`` and put
back by :func:`remove`; no other key is touched).

The observer turns the flood + the ConfigMap's per-key limit into :class:`Effects`
(:func:`effects_of`): each key's requests up to the limit are served — CPU, latency and 5xx grow
with the admitted load — and the rest are answered 429 at almost no cost. The pods' request
log lines name the flood's keys at their share of the traffic (:mod:`noa_sandbox.kube.podlogs`).
NOA reloads the limit live (see :mod:`.noa_config`). No per-key Prometheus series is added: the
keys are read from the logs, the 429s from ``noa_http_requests_total{status="429"}``.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from noa_sandbox.causes import Cause, Observer, noa_config, register
from noa_sandbox.layout import Layout
from noa_sandbox.simulator import catalog, model
from noa_sandbox.simulator.scenarios import Effects

LIMIT_KEY = "RATE_LIMIT_PER_KEY_RPS"
FLOOD_RPS = (30.0, 24.0, 18.0)
"""Requests per second of the flood's three keys."""
REJECT_COST = 0.05
"""CPU of a rejected (429) request relative to a served one."""
OVERLOAD_AT = 0.5
"""Admitted extra load (in units of the api's peak traffic) above which latency and 5xx grow."""
ORGANIZATIONS = (400, 2000)
"""The flooding organizations are picked among these ids (small ones: not the top senders)."""


def flood_file(layout: Layout) -> Any:
    return layout.root / "flood.json"


def flood(layout: Layout) -> dict[str, float]:
    """API key id -> requests per second of the flood now (empty without one)."""
    try:
        raw = json.loads(flood_file(layout).read_text())
    except (OSError, ValueError):
        return {}
    keys = raw.get("keys") if isinstance(raw, dict) else None
    if not isinstance(keys, dict):
        return {}
    return {str(k): float(v) for k, v in keys.items() if isinstance(v, int | float)}


def parse_limit(text: str | None) -> float:
    """The per-key limit a ConfigMap value sets (0: none; an invalid value sets none, as NOA
    ignores it)."""
    try:
        value = float(text) if text is not None else 0.0
    except ValueError:
        return 0.0
    return value if value > 0 and value == value and value != float("inf") else 0.0


def effects_of(keys: Mapping[str, float], limit: float) -> Effects:
    """What NOA Server does under a flood from ``keys`` with per-key limit ``limit`` (0: none)."""
    if not keys:
        return Effects()
    base = Effects(flood_rps=MappingProxyType(dict(keys)), rate_limit_rps=limit)
    split = model.flood_split(base).values()
    peak = catalog.PEAK_RPS["api"]
    admitted = sum(a for a, _ in split) / peak
    rejected = sum(r for _, r in split) / peak
    cpu = catalog.CPU_PER_LOAD["api"] * (admitted + REJECT_COST * rejected)
    over = max(0.0, admitted - OVERLOAD_AT)
    latency = round(0.5 * over, 3)
    errors = round(min(0.15, 0.05 * over), 4)
    return Effects(
        flood_rps=base.flood_rps, rate_limit_rps=limit,
        cpu_extra=MappingProxyType({"api": round(cpu, 3)}),
        extra_latency_s=MappingProxyType({"api": latency} if latency > 0 else {}),
        error_5xx=MappingProxyType({"api": errors} if errors >= 0.005 else {}),
    )


def create(layout: Layout) -> dict[str, Any]:
    """Start the flood (three keys of two organizations picked now) and lift the per-key limit
    (remembering the value found)."""
    rng = random.SystemRandom()
    first, second = rng.sample(range(*ORGANIZATIONS), 2)
    ids = (3 * (first - 1) + 1, 3 * (first - 1) + 2, 3 * (second - 1) + 1)
    keys = {str(k): rps for k, rps in zip(ids, FLOOD_RPS, strict=True)}
    found = noa_config.found(layout, (LIMIT_KEY,))
    path = flood_file(layout)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"keys": keys}))
    os.replace(tmp, path)
    try:
        noa_config.set_keys(layout, {LIMIT_KEY: None})
    except Exception:
        path.unlink(missing_ok=True)
        raise
    return {"keys": keys, "organizations": [first, second],
            "configmap": f"{noa_config.NAMESPACE}/{noa_config.CONFIGMAP}", "found": found}


def remove(layout: Layout, made: Mapping[str, Any]) -> None:
    """End the flood and put back the per-key limit the cause found."""
    noa_config.restore(layout, made)
    flood_file(layout).unlink(missing_ok=True)


def observer(layout: Layout) -> Observer | None:
    """Reads the flood and the ConfigMap's per-key limit every poll."""
    settings = noa_config.reader(layout)

    def observe_ddos() -> Effects:
        keys = flood(layout)
        if not keys:
            return Effects()
        data = settings.data() or {}
        return effects_of(keys, parse_limit(data.get(LIMIT_KEY)))

    return observe_ddos


CAUSE = Cause("ddos", "a flood from three API keys, no per-key rate limit", create, remove)
register(CAUSE, observer=observer)

__all__ = ["CAUSE", "LIMIT_KEY", "effects_of", "flood", "observer", "parse_limit"]
