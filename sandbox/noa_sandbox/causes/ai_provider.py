"""Cause of ``ai-provider-down``: OpenAI's API fails while it is NOA Server's primary provider.

The outage is outside NOA, so the cause records it as the providers' state,
``<state>/ai_providers.json`` (``{"failing": ["openai"]}``: what the providers' APIs answer), and
makes sure ``openai`` is the primary — ``AI_PROVIDER_PRIMARY`` in ConfigMap ``noa/noa-config``,
the value it found kept in ``causes.json`` and put back by :func:`remove` (that key only).

The observer turns provider state + the ConfigMap's primary into :class:`Effects`
(:func:`effects_of`): NOA sends its calls to the primary (:data:`model.PRIMARY_SHARE` of them, the
rest pinned to the other providers); a failing primary → its calls fail (breaker open), and a
share of the api's and worker's requests that needed them end in 5xx; the primary switched to a
healthy provider → the calls move there, errors fall, the failing one only gets its breaker's
probes (half-open). NOA reloads ``AI_PROVIDER_PRIMARY`` live (see :mod:`.noa_config`), so no
restart is needed. :func:`fail` makes another provider fail too (an outage spreading; the
tests use it to make a failover's verify fail).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from noa_sandbox.causes import Cause, Observer, noa_config, register
from noa_sandbox.layout import Layout
from noa_sandbox.simulator import catalog, model
from noa_sandbox.simulator.scenarios import Effects

PRIMARY_KEY = "AI_PROVIDER_PRIMARY"
FAILING = "openai"
AI_REQUEST_SHARE = {"api": 0.45, "worker": 0.5}
"""Share of each service's requests that call an AI provider (chat + completions; jobs)."""
SURFACED = 0.3
"""Share of failed AI calls that end the request in a 5xx (the rest: retried, degraded)."""
DEFAULT_PRIMARY = catalog.PROVIDERS[0].name


def providers_file(layout: Layout) -> Any:
    return layout.root / "ai_providers.json"


def failing(layout: Layout) -> frozenset[str]:
    """The providers whose APIs fail now (none without the state file)."""
    try:
        raw = json.loads(providers_file(layout).read_text())
    except (OSError, ValueError):
        return frozenset()
    names = raw.get("failing") if isinstance(raw, dict) else None
    return frozenset(str(n) for n in names) if isinstance(names, list) else frozenset()


def set_failing(layout: Layout, providers: Iterable[str]) -> None:
    """Record which providers fail (atomically)."""
    path = providers_file(layout)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"failing": sorted(set(providers))}))
    os.replace(tmp, path)


def fail(layout: Layout, provider: str) -> None:
    """Make ``provider`` fail too (the cause's :func:`remove` ends it with the rest).

    Raises:
        ValueError: not a provider of the simulated NOA Server.
    """
    if provider not in {p.name for p in catalog.PROVIDERS}:
        raise ValueError(f"unknown provider {provider!r}")
    set_failing(layout, failing(layout) | {provider})


def effects_of(primary: str | None, down: frozenset[str]) -> Effects:
    """What NOA Server does with primary ``primary`` (an unknown value: NOA keeps its default)
    while the providers in ``down`` fail."""
    names = {p.name for p in catalog.PROVIDERS}
    chosen = primary if primary in names else DEFAULT_PRIMARY
    down = down & names
    if chosen == DEFAULT_PRIMARY and not down:
        return Effects()  # the catalogue's mix: nothing departs from normal
    routed = Effects(ai_primary=chosen, ai_failing=down)
    shares = model.provider_shares(routed)
    failed = sum(shares[p.name] * (1.0 - model.ai_status_shares(p, routed)["ok"])
                 for p in catalog.PROVIDERS if p.name in down)
    errors = {s: round(share * failed * SURFACED, 4) for s, share in AI_REQUEST_SHARE.items()}
    return Effects(ai_primary=chosen, ai_failing=down,
                   error_5xx=MappingProxyType({s: e for s, e in errors.items() if e >= 0.005}))


def create(layout: Layout) -> dict[str, Any]:
    """Record openai's outage and make it the primary (remembering the primary found)."""
    found = noa_config.found(layout, (PRIMARY_KEY,))
    set_failing(layout, [FAILING])
    try:
        noa_config.set_keys(layout, {PRIMARY_KEY: FAILING})
    except Exception:
        providers_file(layout).unlink(missing_ok=True)
        raise
    return {"failing": [FAILING], "configmap": f"{noa_config.NAMESPACE}/{noa_config.CONFIGMAP}",
            "found": found}


def remove(layout: Layout, made: Mapping[str, Any]) -> None:
    """End the outage and put back the primary the cause found."""
    noa_config.restore(layout, made)
    providers_file(layout).unlink(missing_ok=True)


def observer(layout: Layout) -> Observer | None:
    """Reads the providers' state and the ConfigMap's primary every poll."""
    settings = noa_config.reader(layout)

    def observe_ai_provider() -> Effects:
        data = settings.data() or {}
        return effects_of(data.get(PRIMARY_KEY), failing(layout))

    return observe_ai_provider


CAUSE = Cause("ai-provider-down", "openai's API fails while it is the primary provider",
              create, remove)
register(CAUSE, observer=observer)

__all__ = ["CAUSE", "PRIMARY_KEY", "effects_of", "fail", "failing", "observer", "set_failing"]
