"""AI provider failover, the diagnosis: which provider fails and which one takes over.

:func:`diagnose_ai_providers` reads, per provider, the call rate and share, error rate, p95
latency, cost per hour and circuit breaker state from Prometheus, and the primary NOA uses
(``AI_PROVIDER_PRIMARY`` in ConfigMap ``noa-config``, :mod:`.noa_settings`). It picks the
failing provider (the worst by error rate unless named) and the fallback (the healthiest other
provider unless named; a named fallback that is itself failing is refused). With ``fail_back``
it picks the way back instead: the primary before the failover (from the ConfigMap's saved
versions) once it is healthy again. :mod:`.ai_failover_plan` turns the choice into a
mitigation.
"""

from __future__ import annotations

from dataclasses import dataclass

from noa_lib.config import Target
from noa_lib.errors import ParameterError, UnsafeActionRefused
from noa_lib.ops import metrics
from noa_lib.ops.deploy.configmaps import config_history
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.names import validate_name
from noa_lib.ops.noa_settings import CONFIG_NAME, PRIMARY_KEY, current_setting, duration
from noa_lib.ops.promql import get_query
from noa_lib.ops.thresholds import Threshold

AI_ERROR = Threshold("ai_error_rate", 5.0, 20.0, "%")
"""A provider failing more than this share of its calls is not healthy (no catalogue threshold:
the HTTP error rate's is about requests, not provider calls)."""
BREAKER = {0: "closed", 1: "half-open", 2: "open"}


@dataclass(frozen=True)
class ProviderHealth:
    """One AI provider over the window (``None``: no data)."""

    provider: str
    calls_per_s: float
    share: float
    error_pct: float | None
    latency_p95_s: float | None
    cost_per_hour: float | None
    breaker: int | None

    @property
    def breaker_state(self) -> str:
        return "no data" if self.breaker is None else BREAKER.get(self.breaker, str(self.breaker))

    @property
    def healthy(self) -> bool:
        """Errors under :data:`AI_ERROR`'s warning and the breaker not open."""
        return (self.error_pct is not None and self.error_pct < AI_ERROR.warning
                and self.breaker != 2)


@dataclass(frozen=True)
class FailoverDiagnosis:
    """What :func:`diagnose_ai_providers` found and chose."""

    target: Target
    namespace: str
    config_name: str
    window: str
    providers: tuple[ProviderHealth, ...]
    primary: str | None
    failing: str | None
    fallback: str | None
    fail_back: bool
    findings: tuple[Finding, ...]

    def figures(self) -> dict[str, str | float | bool]:
        """Outcome figures for the record."""
        out: dict[str, str | float | bool] = {
            "primary_before": self.primary or "", "failing_provider": self.failing or "",
            "fallback": self.fallback or "", "fail_back": self.fail_back}
        worst = max((p.error_pct or 0.0 for p in self.providers), default=0.0)
        out["worst_ai_error_pct"] = round(worst, 2)
        return out



def _provider(value: str, parameter: str) -> str:
    if not isinstance(value, str):
        raise ParameterError(f"{parameter}={value!r} must be a provider name", name=parameter,
                             accepted="a provider name (e.g. openai, anthropic, azure) or empty")
    if value:
        validate_name(value, parameter)
    return value


def _known(name: str, parameter: str, rows: tuple[ProviderHealth, ...]) -> ProviderHealth:
    for row in rows:
        if row.provider == name:
            return row
    known = ", ".join(r.provider for r in rows) or "none with data"
    raise ParameterError(f"{parameter}={name!r} is not a provider with calls in Prometheus "
                         f"(those with calls: {known})", name=parameter, accepted=known)


def choose_failing(rows: tuple[ProviderHealth, ...], provider: str = "") -> ProviderHealth | None:
    """The provider to fail over from: ``provider`` when named, else the worst by error rate
    when it is not healthy (``None``: every provider is healthy).

    Raises:
        ParameterError: ``provider`` has no calls in ``rows`` (the message lists those that do).
    """
    if provider:
        return _known(provider, "provider", rows)
    unhealthy = [r for r in rows if not r.healthy and r.error_pct is not None]
    return max(unhealthy, key=lambda r: r.error_pct or 0.0, default=None)


def choose_fallback(rows: tuple[ProviderHealth, ...], failing: str, fallback: str = ""
                    ) -> ProviderHealth:
    """The provider to switch to: ``fallback`` when named (it must be healthy), else the
    healthiest other provider (healthy, breaker closed, then the most calls now).

    Raises:
        ParameterError: ``fallback`` is unknown or the failing provider itself.
        UnsafeActionRefused: the named fallback is failing too, or no other provider is healthy.
    """
    if fallback:
        row = _known(fallback, "fallback", rows)
        if row.provider == failing:
            raise ParameterError(f"fallback={fallback!r} is the failing provider", name="fallback",
                                 accepted=", ".join(r.provider for r in rows if r.provider
                                                    != failing))
        if not row.healthy:
            raise UnsafeActionRefused(
                f"fallback {fallback!r} is failing too (errors {_pct(row.error_pct)}, breaker "
                f"{row.breaker_state}); healthy: {_healthy_names(rows, failing)}; nothing changed")
        return row
    healthy = [r for r in rows if r.provider != failing and r.healthy]
    if not healthy:
        raise UnsafeActionRefused(
            f"no healthy provider to fail over to from {failing!r} (every other one fails more "
            f"than {AI_ERROR.warning:g} % of its calls or has its breaker open); nothing changed")
    # among the healthy ones (errors under the warning bound: differences below it are noise at
    # a few calls a second) a closed breaker first, then the one carrying most calls now — it
    # has proven the quota and capacity
    return min(healthy, key=lambda r: (r.breaker or 0, -r.calls_per_s))


def _healthy_names(rows: tuple[ProviderHealth, ...], failing: str) -> str:
    return ", ".join(r.provider for r in rows if r.healthy and r.provider != failing) or "none"


def _pct(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1f} %"


def read_providers(prom: metrics.Prometheus, window: str) -> tuple[ProviderHealth, ...]:
    """Per-provider health over ``window``, busiest first.

    Raises:
        ClientError: Prometheus failed.
    """
    names = ("ai_request_rate", "ai_error_rate", "ai_latency_p95", "ai_cost_per_hour",
             "circuit_breaker_state")
    readings = {n: metrics.read(prom, get_query(n), window=window) for n in names}
    by: dict[str, dict[str, float]] = {
        n: {str(labels.get("provider")): v for labels, v in r.values} for n, r in readings.items()}
    rates = by["ai_request_rate"]
    total = sum(rates.values())
    rows = [ProviderHealth(
        provider=name, calls_per_s=round(rate, 3), share=round(rate / total, 4) if total else 0.0,
        error_pct=_round(by["ai_error_rate"].get(name)),
        latency_p95_s=_round(by["ai_latency_p95"].get(name)),
        cost_per_hour=_round(by["ai_cost_per_hour"].get(name)),
        breaker=None if name not in by["circuit_breaker_state"]
        else int(by["circuit_breaker_state"][name]),
    ) for name, rate in rates.items()]
    return tuple(sorted(rows, key=lambda r: -r.calls_per_s))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _previous_primary(target: Target, namespace: str, current: str | None) -> str | None:
    """The newest saved primary that differs from ``current`` (what a failover switched from)."""
    for version in reversed(config_history(target, CONFIG_NAME, namespace=namespace)):
        value = version.data.get(PRIMARY_KEY)
        if value and value != current:
            return value
    return None


def diagnose_ai_providers(target: Target, *, provider: str = "", fallback: str = "",
                          fail_back: bool = False, window: str = "5m", namespace: str = ""
                          ) -> FailoverDiagnosis:
    """Read every provider's health and the primary; choose what to switch from and to.

    Returns:
        :class:`FailoverDiagnosis`; ``failing``/``fallback`` are ``None`` when nothing needs to
        change (every provider healthy, the failing one is not the primary, or — failing back —
        the original primary is not healthy yet), which its findings explain.
    Raises:
        ParameterError: a bad parameter (before any request) or an unknown provider name.
        UnsafeActionRefused: the fallback is failing too, or no provider is healthy.
        ConfigError: no Prometheus or Kubernetes for the target.
    """
    provider = _provider(provider, "provider")
    fallback = _provider(fallback, "fallback")
    if not isinstance(fail_back, bool):
        raise ParameterError(f"fail_back={fail_back!r} must be true or false", name="fail_back",
                             accepted="true, false")
    duration(window, "window")
    ns, primary = current_setting(target, PRIMARY_KEY, namespace=namespace)
    prom = metrics.connect(target)
    try:
        rows = read_providers(prom, window)
    finally:
        prom.close()
    findings = [_provider_finding(r, primary) for r in rows]
    if not rows:
        findings.append(Finding("ai providers", Status.WARNING,
                                f"no AI provider calls in Prometheus over {window}"))
    if fail_back:
        failing, chosen, finding = _fail_back(target, ns, rows, primary, provider)
    else:
        failing, chosen, finding = _failover(rows, primary, provider, fallback)
    findings.append(finding)
    return FailoverDiagnosis(target, ns, CONFIG_NAME, window, rows, primary, failing, chosen,
                             fail_back, tuple(findings))


def _provider_finding(row: ProviderHealth, primary: str | None) -> Finding:
    status = AI_ERROR.classify(row.error_pct) if row.error_pct is not None else Status.WARNING
    role = " (primary)" if row.provider == primary else ""
    return Finding(
        f"provider {row.provider}", status,
        f"{row.provider}{role}: {row.share * 100:.0f} % of calls, errors "
        f"{_pct(row.error_pct)}, p95 {row.latency_p95_s if row.latency_p95_s is not None else '-'}"
        f" s, breaker {row.breaker_state}",
        value=row.error_pct, threshold=AI_ERROR.warning, unit="%")


def _failover(rows: tuple[ProviderHealth, ...], primary: str | None, provider: str,
              fallback: str) -> tuple[str | None, str | None, Finding]:
    failing = choose_failing(rows, provider)
    if failing is None:
        return None, None, Finding("failover", Status.OK,
                                   "every provider is healthy: nothing to fail over")
    if failing.provider != primary:
        return None, None, Finding(
            "failover", Status.WARNING,
            f"{failing.provider} fails ({_pct(failing.error_pct)}) but is not the primary "
            f"({primary or 'unset'}): its breaker sheds its calls; nothing to switch")
    chosen = choose_fallback(rows, failing.provider, fallback)
    why = "fails" if not failing.healthy else "named to leave"
    return failing.provider, chosen.provider, Finding(
        "failover", Status.CRITICAL if not failing.healthy else Status.WARNING,
        f"primary {failing.provider} {why} (errors {_pct(failing.error_pct)}): switch to "
        f"{chosen.provider} (errors {_pct(chosen.error_pct)}, breaker {chosen.breaker_state})")


def _fail_back(target: Target, namespace: str, rows: tuple[ProviderHealth, ...],
               primary: str | None, provider: str) -> tuple[str | None, str | None, Finding]:
    original = provider or _previous_primary(target, namespace, primary)
    if not original:
        raise ParameterError("fail_back=True needs the provider to go back to: none was saved "
                             "before a failover of this ConfigMap", name="provider",
                             accepted="the original primary's name")
    if original == primary:
        return None, None, Finding("fail back", Status.OK,
                                   f"{original} is already the primary: nothing to do")
    row = _known(original, "provider", rows)
    if not row.healthy:
        return None, None, Finding(
            "fail back", Status.WARNING,
            f"{original} is not healthy yet (errors {_pct(row.error_pct)}, breaker "
            f"{row.breaker_state}): stay on {primary}")
    return primary, original, Finding(
        "fail back", Status.OK, f"{original} is healthy again (errors {_pct(row.error_pct)}): "
        f"switch back from {primary}")


__all__ = ["AI_ERROR", "FailoverDiagnosis", "ProviderHealth", "choose_failing",
           "choose_fallback", "diagnose_ai_providers", "read_providers"]
