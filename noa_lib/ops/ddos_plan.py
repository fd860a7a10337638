"""The DDoS mitigation: set the per-key rate limit, verify the load fell and the flood gets 429s,
put the old setting back when it did not.

The change goes through :func:`~noa_lib.ops.deploy.configmaps.config_change_plan` (the previous
data is kept as a saved version of ConfigMap ``noa-config``); NOA Server reloads
``RATE_LIMIT_PER_KEY_RPS`` live. The verify (over at most :data:`VERIFY_WINDOW_S`) wants, in
Prometheus, the 429s to cover at least half of what the flood sends above the limit, the served
request rate at least half way back from the flood to baseline + the flood's allowance, the api's
5xx rate under its warning and CPU under its critical bound; then, in the api pods' logs, 429s for
every flooding key — and not before its window holds only requests from after the change
(:func:`~noa_lib.ops.settle.after_window`).
"""

from __future__ import annotations

from typing import Any

from noa_lib.ops import metrics
from noa_lib.ops.ddos import SERVICE, DdosDiagnosis
from noa_lib.ops.logs.investigate import investigate_logs
from noa_lib.ops.mitigation import Mitigation, Verdict
from noa_lib.ops.noa_settings import RATE_LIMIT_KEY, setting_plans
from noa_lib.ops.promql import format_duration, get_query, parse_duration
from noa_lib.ops.safety import Plan
from noa_lib.ops.settle import after_window
from noa_lib.ops.talkers import top_talkers
from noa_lib.ops.thresholds import THRESHOLDS

VERIFY_WINDOW_S = 60.0
"""The verify's rate window: at most this, so it sees the requests after the change."""


def _limit_in_force(text: str | None) -> float:
    try:
        value = float(text) if text is not None else 0.0
    except ValueError:
        return 0.0
    return value if value > 0 else 0.0


def ddos_mitigation(diagnosis: DdosDiagnosis, *, verify_timeout_s: float = 120.0) -> Mitigation:
    """The rate-limit change, its verify and revert. A given ``limit_rps`` is planned whenever it
    differs from the limit in force (also to raise it after a flood); a proposed one only against
    flooding keys and when the limit in force is not already as low. Otherwise an empty plan."""
    d = diagnosis
    limit = d.limit_rps
    in_force = _limit_in_force(d.current_limit)
    if d.limit_given:
        needed = limit is not None and in_force != limit
    else:
        needed = limit is not None and bool(d.flooders) and not (in_force and in_force <= limit)
    if limit is None or not needed:
        return Mitigation(Plan(f"keep {RATE_LIMIT_KEY}={d.current_limit or 'unset'}", d.target,
                               (), perform=lambda: None), verify=lambda: Verdict(True, "no change"))
    plan, revert = setting_plans(d.target, RATE_LIMIT_KEY, f"{limit:g}", d.current_limit,
                                 config_name=d.config_name, namespace=d.namespace)

    seconds = min(parse_duration(d.window), VERIFY_WINDOW_S)
    window = format_duration(seconds)
    verify = after_window(lambda: verify_rate_limit(d, limit, window), seconds)
    return Mitigation(plan, verify=verify, revert=revert, verify_timeout_s=verify_timeout_s,
                      verify_interval_s=5.0)


def verify_rate_limit(d: DdosDiagnosis, limit: float, window: str) -> Verdict:
    """Whether limit ``limit`` stopped the flood ``d`` found, over ``window``."""
    api = {"service": SERVICE}
    prom = metrics.connect(d.target)
    try:
        rejected = _sum(metrics.read(prom, get_query("rate_limited_rate"), window=window,
                                     where=api))
        served = _sum(metrics.read(prom, get_query("served_request_rate"), window=window,
                                   where=api))
        errors = metrics.read(prom, get_query("error_rate"), window=window, where=api)
        cpu = metrics.read(prom, get_query("cpu_usage"), window=window, where=api)
    finally:
        prom.close()
    over = sum(max(0.0, t.rps - limit) for t in d.flooders)
    allowance = limit * len(d.flooders)
    excess = max(0.0, d.rps - d.baseline_rps - allowance)
    served_bound = d.baseline_rps + allowance + 0.5 * excess
    error_pct = errors.values[0][1] if errors.values else None
    cpu_pct = max((v for _, v in cpu.values), default=None)
    err_limit, cpu_limit = THRESHOLDS["error_rate"].warning, THRESHOLDS["cpu"].critical
    checks = {
        f"429s >= half the flood above the limit ({0.5 * over:.1f} req/s)": rejected >= 0.5 * over,
        f"served <= {served_bound:.1f} req/s": served <= served_bound,
        f"api 5xx < {err_limit:g} %": error_pct is not None and error_pct < err_limit,
        f"api CPU < {cpu_limit:g} %": cpu_pct is None or cpu_pct < cpu_limit,
    }
    evidence: dict[str, Any] = {"window": window, "rejected_rps": round(rejected, 3),
                                "served_rps": round(served, 3), "error_pct": error_pct,
                                "cpu_pct": cpu_pct, "checks": checks}
    if all(checks.values()):
        checks["429s for every flooding key (logs)"] = _flooders_rejected(d, window, evidence)
    failed = [name for name, ok in checks.items() if not ok]
    message = (f"served {served:.1f} req/s (baseline {d.baseline_rps:.1f}, flood {d.rps:.1f}), "
               f"429 {rejected:.1f} req/s, 5xx {_pct(error_pct)}, CPU {_pct(cpu_pct)} over "
               f"{window}")
    return Verdict(not failed, message + ("" if not failed else f" — not yet: {', '.join(failed)}"),
                   evidence)


def _flooders_rejected(d: DdosDiagnosis, window: str, evidence: dict[str, Any]) -> bool:
    logs = investigate_logs(d.target, SERVICE, window=window, min_level="debug",
                            namespace=d.namespace, include_previous=False)
    rejected = {t.api_key_id: t.rejected for t in top_talkers(logs.lines, total_rps=0.0)}
    evidence["rejected_lines"] = {str(t.api_key_id): rejected.get(t.api_key_id, 0)
                                  for t in d.flooders}
    return all(rejected.get(t.api_key_id, 0) > 0 for t in d.flooders)


def _sum(reading: metrics.Reading) -> float:
    return sum(v for _, v in reading.values)


def _pct(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1f} %"


__all__ = ["ddos_mitigation", "verify_rate_limit"]
