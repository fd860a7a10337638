"""DDoS diagnosis: traffic against its baseline, who sends it, and the per-key rate limit that
stops it.

:func:`diagnose_ddos` reads from Prometheus the request rate by service and endpoint now and the
same window ``baseline`` ago (at least :data:`BASELINE_WINDOW_MIN_S` wide there, so a coarse or
downsampled history still has two samples; without data there the baseline is estimated from
the keys, :func:`~noa_lib.ops.talkers.estimate_baseline`), the api's 5xx rate and CPU; from the
api pods' logs (:func:`~noa_lib.ops.logs.investigate.investigate_logs`) the requests by API key
and organization (:mod:`.talkers`); from ConfigMap ``noa-config`` the per-key limit in force
(``RATE_LIMIT_PER_KEY_RPS``). It names the flooding keys and proposes a limit (or takes
``limit_rps``). :mod:`.ddos_plan` turns that into a mitigation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from noa_lib.config import Target
from noa_lib.errors import ParameterError
from noa_lib.ops import metrics, talkers
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.logs.investigate import investigate_logs
from noa_lib.ops.noa_settings import CONFIG_NAME, RATE_LIMIT_KEY, current_setting, duration
from noa_lib.ops.promql import format_duration, get_query, parse_duration
from noa_lib.ops.talkers import Talker
from noa_lib.ops.thresholds import THRESHOLDS

SERVICE = "api"
"""The service API keys call (the one a flood hits)."""
BASELINE_WINDOW_MIN_S = 600.0
MAX_TOP = 100
ALL = "(all)"
"""The endpoint column of a service's total."""


@dataclass(frozen=True)
class EndpointTraffic:
    """Requests per second of one endpoint now and at the baseline (``None``: no data)."""

    service: str
    endpoint: str
    rps: float
    baseline_rps: float | None

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline_rps else round(self.rps / self.baseline_rps, 2)


@dataclass(frozen=True)
class DdosDiagnosis:
    """What :func:`diagnose_ddos` found, and the limit it proposes."""

    target: Target
    namespace: str
    config_name: str
    window: str
    baseline: str
    endpoints: tuple[EndpointTraffic, ...]
    talkers: tuple[Talker, ...]
    flooders: tuple[Talker, ...]
    top: int
    rps: float
    baseline_rps: float
    error_pct: float | None
    cpu_pct: float | None
    current_limit: str | None
    limit_rps: float | None
    findings: tuple[Finding, ...]
    limit_given: bool = False
    """``limit_rps`` came from the operator (planned even without flooding keys)."""

    @property
    def top_talkers(self) -> tuple[Talker, ...]:
        return self.talkers[: self.top]

    def figures(self) -> dict[str, str | float | int]:
        """Outcome figures for the record."""
        return {
            "api_rps": round(self.rps, 2), "baseline_rps": round(self.baseline_rps, 2),
            "flooding_keys": ",".join(str(t.api_key_id) for t in self.flooders),
            "flood_share": round(sum(t.share for t in self.flooders), 4),
            "limit_before": self.current_limit or "", "limit_rps": self.limit_rps or 0.0,
        }


def _check(window: str, baseline: str, top: int, limit_rps: float) -> None:
    duration(window, "window")
    duration(baseline, "baseline")
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise ParameterError(f"top={top!r} must be a whole number from 1 to {MAX_TOP}",
                             name="top", accepted=f"1..{MAX_TOP}")
    if isinstance(limit_rps, bool) or not isinstance(limit_rps, int | float) or limit_rps < 0 \
            or limit_rps != limit_rps or limit_rps == float("inf"):
        raise ParameterError(f"limit_rps={limit_rps!r} must be a number >= 0", name="limit_rps",
                             accepted="a number of requests per second > 0, or 0 to propose one")


def _traffic(now: metrics.Reading, then: metrics.Reading, endpoint: str = ""
             ) -> tuple[EndpointTraffic, ...]:
    """Rows of ``now`` beside the same series in ``then``, busiest first."""
    def key(labels: Mapping[str, str]) -> tuple[str, str]:
        return str(labels.get("service")), endpoint or str(labels.get("endpoint"))

    before = {key(labels): value for labels, value in then.values}
    rows = [EndpointTraffic(*key(labels), round(value, 3),
                            None if key(labels) not in before else round(before[key(labels)], 3))
            for labels, value in now.values]
    return tuple(sorted(rows, key=lambda e: -e.rps))



def _sum(reading: metrics.Reading) -> float:
    return sum(v for _, v in reading.values)


def diagnose_ddos(target: Target, *, window: str = "5m", baseline: str = "1d", top: int = 10,
                  limit_rps: float = 0.0, namespace: str = "") -> DdosDiagnosis:
    """Traffic vs baseline, top talkers, the flood and the limit to set.

    Raises:
        ParameterError: a bad parameter (before any request).
        ConfigError: no Prometheus or Kubernetes for the target.
        ClientError: Prometheus or the Kubernetes API failed.
    """
    _check(window, baseline, top, limit_rps)
    ns, current = current_setting(target, RATE_LIMIT_KEY, namespace=namespace)
    now = datetime.now(UTC)
    then = now - timedelta(seconds=parse_duration(baseline))
    wide = format_duration(max(parse_duration(window), BASELINE_WINDOW_MIN_S))
    api = {"service": SERVICE}
    prom = metrics.connect(target)
    try:
        by_endpoint = metrics.read(prom, get_query("request_rate"), window=window,
                                   by=("service", "endpoint"), at=now)
        past = metrics.read(prom, get_query("request_rate"), window=wide,
                            by=("service", "endpoint"), at=then)
        services = metrics.read(prom, get_query("request_rate"), window=window, at=now)
        services_past = metrics.read(prom, get_query("request_rate"), window=wide, at=then)
        rps = _sum(metrics.read(prom, get_query("request_rate"), window=window, where=api,
                                at=now))
        base = _sum(metrics.read(prom, get_query("request_rate"), window=wide, where=api,
                                 at=then))
        errors = metrics.read(prom, get_query("error_rate"), window=window, where=api, at=now)
        cpu = metrics.read(prom, get_query("cpu_usage"), window=window, where=api, at=now)
    finally:
        prom.close()
    logs = investigate_logs(target, SERVICE, window=window, min_level="debug", namespace=ns,
                            include_previous=False)
    keyed = talkers.top_talkers(logs.lines, total_rps=rps)
    estimated = not base
    if estimated:
        base = talkers.estimate_baseline(keyed, rps)
    flooders = talkers.find_flooders(keyed, rps, base)
    proposed = float(limit_rps) if limit_rps else talkers.propose_limit(keyed, flooders, base)
    endpoints = _traffic(services, services_past, ALL) + _traffic(by_endpoint, past)
    error_pct = errors.values[0][1] if errors.values else None
    cpu_pct = max((v for _, v in cpu.values), default=None)
    findings = _findings(rps, base, baseline, keyed, flooders, error_pct, cpu_pct, current,
                         proposed, bool(limit_rps), logs.findings)
    if estimated:
        findings = (Finding(
            "baseline", Status.WARNING,
            f"no api traffic in Prometheus {baseline} ago: the baseline is estimated as the "
            f"requests of the keys sending under {talkers.CONCENTRATION:.0%} each "
            f"({base:.1f} req/s)"), *findings)
    return DdosDiagnosis(target, ns, CONFIG_NAME, window, baseline, endpoints, keyed, flooders,
                         top, rps, base, error_pct, cpu_pct, current, proposed, findings,
                         limit_given=bool(limit_rps))


def _findings(rps: float, base: float, baseline: str, keyed: tuple[Talker, ...],
              flooders: tuple[Talker, ...], error_pct: float | None, cpu_pct: float | None,
              current: str | None, proposed: float | None, given: bool,
              log_findings: tuple[Finding, ...]) -> tuple[Finding, ...]:
    ratio = rps / base if base else None
    surge = Status.OK if ratio is None or ratio < talkers.FLOOD_FACTOR else (
        Status.CRITICAL if ratio >= 2 * talkers.FLOOD_FACTOR else Status.WARNING)
    out = [Finding("traffic", surge,
                   f"{SERVICE}: {rps:.1f} req/s, baseline ({baseline} ago) {base:.1f} req/s"
                   + (f" ({ratio:.1f}x)" if ratio else ""), value=round(rps, 3), unit="req/s")]
    if flooders:
        share = sum(t.share for t in flooders)
        names = ", ".join(f"key {t.api_key_id} (org {t.org_id}) {t.rps:.1f} req/s"
                          for t in flooders)
        out.append(Finding("top talkers", Status.CRITICAL,
                           f"{len(flooders)} API key(s) send {share:.0%} of the requests: {names}",
                           evidence={"keys": [t.api_key_id for t in flooders]}))
    elif keyed:
        out.append(Finding("top talkers", Status.OK,
                           f"busiest key {keyed[0].api_key_id} sends {keyed[0].share:.1%} of the "
                           "requests: no flood from a few keys"))
    for name, value in (("error_rate", error_pct), ("cpu", cpu_pct)):
        if value is not None:
            t = THRESHOLDS[name]
            out.append(Finding(name, t.classify(value), f"{SERVICE} {name} {value:.1f}{t.unit}",
                               value=round(value, 3), threshold=t.warning, unit=t.unit))
    limit_text = f"{RATE_LIMIT_KEY}={current}" if current is not None else "no per-key limit"
    if flooders and proposed is None:
        out.append(Finding("rate limit", Status.CRITICAL,
                           f"{limit_text}; a per-key limit cannot stop this flood without hitting "
                           "legitimate keys: block it upstream (WAF, by source)"))
    elif proposed is not None and (flooders or given):
        how = "as given" if given else f"{talkers.HEADROOM:g}x the busiest legitimate key"
        out.append(Finding("rate limit", Status.OK,
                           f"{limit_text}; set {proposed:g} req/s per key ({how})",
                           value=proposed, unit="req/s"))
    else:
        out.append(Finding("rate limit", Status.OK, f"{limit_text}; nothing to change"))
    out += [f for f in log_findings if f.check == "log sources" and f.status != Status.OK]
    return tuple(out)


__all__ = ["DdosDiagnosis", "EndpointTraffic", "diagnose_ddos"]
