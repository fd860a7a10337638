"""The AI provider failover as a mitigation: switch ``AI_PROVIDER_PRIMARY``, verify in
Prometheus that the calls moved and the errors fell, put the old value back when they did not.

The change goes through :func:`~noa_lib.ops.deploy.configmaps.config_change_plan` (the previous
data is kept as a saved version of the ConfigMap). NOA Server reloads the key live, so there is
no restart step: the verify is what proves the pods followed, and it cannot pass before its
window holds only calls made after the switch (:func:`~noa_lib.ops.settle.after_window`).
"""

from __future__ import annotations

from typing import Any

from noa_lib.config import Target
from noa_lib.ops import metrics
from noa_lib.ops.ai_failover import AI_ERROR, FailoverDiagnosis, read_providers
from noa_lib.ops.mitigation import Mitigation, Verdict
from noa_lib.ops.noa_settings import PRIMARY_KEY, setting_plans
from noa_lib.ops.promql import format_duration, get_query, parse_duration
from noa_lib.ops.safety import Plan
from noa_lib.ops.settle import after_window
from noa_lib.ops.thresholds import THRESHOLDS

MOVED_SHARE = 0.5
"""After a switch the new primary must carry at least this share of the calls …"""
PROBE_SHARE = 0.1
"""… and the old one at most this (its breaker's probes)."""
VERIFY_WINDOW_S = 60.0
"""The verify's rate window: at most this, so it sees the calls after the switch."""


def ai_failover_mitigation(diagnosis: FailoverDiagnosis, *, verify_timeout_s: float = 120.0
                           ) -> Mitigation:
    """The ConfigMap change to :attr:`FailoverDiagnosis.fallback`, its verify and revert (an
    empty plan when the diagnosis chose nothing)."""
    d = diagnosis
    if d.fallback is None:
        return Mitigation(Plan(f"keep {PRIMARY_KEY}={d.primary}", d.target, (),
                               perform=lambda: None), verify=lambda: Verdict(True, "no change"))
    plan, revert = setting_plans(d.target, PRIMARY_KEY, d.fallback, d.primary,
                                 config_name=d.config_name, namespace=d.namespace)

    seconds = min(parse_duration(d.window), VERIFY_WINDOW_S)
    window = format_duration(seconds)
    # failing back, the provider left is healthy and keeps its usual share: no probes-only check
    left = None if d.fail_back else d.failing
    verify = after_window(lambda: verify_switch(d.target, d.fallback or "", left, window),
                          seconds)
    return Mitigation(plan, verify=verify, revert=revert, verify_timeout_s=verify_timeout_s,
                      verify_interval_s=5.0)


def verify_switch(target: Target, primary: str, old: str | None, window: str) -> Verdict:
    """Calls moved to ``primary`` (≥ :data:`MOVED_SHARE`), ``old`` only probes (≤
    :data:`PROBE_SHARE`), every provider's calls together and the api's HTTP requests under
    their error thresholds — over ``window``, in Prometheus."""
    prom = metrics.connect(target)
    try:
        rows = read_providers(prom, window)
        ai_total = metrics.read(prom, get_query("ai_error_rate"), window=window, by=())
        http = metrics.read(prom, get_query("error_rate"), window=window,
                            where={"service": "api"})
    finally:
        prom.close()
    share = {r.provider: r.share for r in rows}
    ai_err = ai_total.values[0][1] if ai_total.values else None
    http_err = http.values[0][1] if http.values else None
    http_limit = THRESHOLDS["error_rate"].warning
    checks = {
        f"{primary} carries >= {MOVED_SHARE:.0%} of calls": share.get(primary, 0.0) >= MOVED_SHARE,
        f"AI errors < {AI_ERROR.warning:g} %": ai_err is not None and ai_err < AI_ERROR.warning,
        f"api 5xx < {http_limit:g} %": http_err is not None and http_err < http_limit,
    }
    if old:
        checks[f"{old} only probes (<= {PROBE_SHARE:.0%})"] = share.get(old, 0.0) <= PROBE_SHARE
    evidence: dict[str, Any] = {
        "window": window, "shares": share, "ai_error_pct": ai_err, "api_error_pct": http_err,
        "promql": [ai_total.promql, http.promql], "checks": checks}
    failed = [name for name, ok in checks.items() if not ok]
    message = (f"{primary} {share.get(primary, 0.0):.0%} of calls"
               + (f", {old} {share.get(old, 0.0):.0%}" if old else "")
               + f"; AI errors {_pct(ai_err)}, api 5xx {_pct(http_err)} over {window}")
    return Verdict(not failed, message + ("" if not failed else f" — not yet: {', '.join(failed)}"),
                   evidence)


def _pct(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1f} %"


__all__ = ["MOVED_SHARE", "PROBE_SHARE", "ai_failover_mitigation", "verify_switch"]
