"""Which alerts fired recently ("overnight") and which are active now.

History comes from Prometheus' own ``ALERTS{alertstate="firing"}`` series over the window, cut into
episodes (start, last seen, duration); the present from ``/api/v1/alerts`` and, when the target
configures one, Alertmanager's ``/api/v2/alerts`` (which also says what is silenced). Backend
problems become findings, never exceptions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError
from noa_lib.ops import metrics
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.promql import parse_duration

if TYPE_CHECKING:
    import pandas as pd

HISTORY_PROMQL = 'ALERTS{alertstate="firing"}'
EPISODE_COLUMNS = ["alertname", "severity", "labels", "started", "last_seen", "minutes",
                   "firing_now"]
ACTIVE_COLUMNS = ["source", "alertname", "severity", "state", "since", "labels"]
_HIDDEN = {"__name__", "alertname", "alertstate", "severity"}


@dataclass(frozen=True)
class AlertHistory:
    """``episodes``: one row per firing episode in the window (:data:`EPISODE_COLUMNS`);
    ``active``: alerts pending/firing now in Prometheus and held by Alertmanager
    (:data:`ACTIVE_COLUMNS`); ``findings``: the summary and any backend problem."""

    findings: list[Finding]
    episodes: pd.DataFrame = field(compare=False)
    active: pd.DataFrame = field(compare=False)
    figures: dict[str, int] = field(default_factory=dict)


def recent_alerts(target: Target, *, window: str = "24h", end: datetime | None = None
                  ) -> AlertHistory:
    """Alerts that fired during the last ``window`` and those active now.

    Returns:
        An :class:`AlertHistory`; findings: ``alerts in window`` (ok when nothing fires now;
        warning when something fires; critical when a P0 fires) and ``alertmanager`` (ok,
        unreachable, or skipped when not configured).

    Raises:
        ParameterError: ``window`` is not a duration.
    """
    import pandas as pd

    seconds = parse_duration(window)
    finish = (end or datetime.now(UTC)).replace(microsecond=0)
    empty_ep = pd.DataFrame(columns=EPISODE_COLUMNS)
    empty_active = pd.DataFrame(columns=ACTIVE_COLUMNS)
    if target.prometheus is None:
        missing = metrics.not_configured(target, "alerts in window")
        return AlertHistory([missing], empty_ep, empty_active)
    step = max(60.0, 60.0 * math.ceil(seconds / 5000 / 60))
    start = finish - timedelta(seconds=seconds)
    evidence = {"promql": HISTORY_PROMQL, "window": window, "at": metrics.iso(finish),
                "step_s": step}
    try:
        prom = metrics.connect(target).client
    except ConfigError as exc:
        return AlertHistory([Finding("alerts in window", Status.UNREACHABLE, str(exc))],
                            empty_ep, empty_active)
    try:
        from noa_lib.clients import prometheus

        frame = prometheus.query_range(prom, HISTORY_PROMQL, start, finish, step)
        now_alerts = prometheus.alerts(prom)
    except ClientError as exc:
        down = metrics.failure_finding("alerts in window", exc, evidence)
        return AlertHistory([down, _alertmanager(target, [])], empty_ep, empty_active)
    finally:
        prom.close()
    episodes = _episodes(frame, step, finish)
    active_rows = [_prom_row(a) for a in now_alerts]
    am_rows: list[dict[str, Any]] = []
    am_finding = _alertmanager(target, am_rows)
    active = pd.DataFrame(active_rows + am_rows, columns=ACTIVE_COLUMNS)
    summary = _summary(episodes, active_rows, window, evidence)
    figures = {
        "alert_episodes": len(episodes),
        "alerts_firing_now": sum(1 for r in active_rows if r["state"] == "firing"),
    }
    return AlertHistory([summary, am_finding], episodes, active, figures)


def _episodes(frame: pd.DataFrame, step: float, end: datetime) -> pd.DataFrame:
    import pandas as pd

    rows: list[dict[str, Any]] = []
    labels_of: dict[str, dict[str, str]] = frame.attrs.get("labels", {})
    gap = pd.Timedelta(seconds=1.5 * step)
    for column in frame.columns:
        seen = frame[column].dropna().index
        if len(seen) == 0:
            continue
        labels = labels_of.get(str(column), {})
        breaks = [0] + [i for i in range(1, len(seen)) if seen[i] - seen[i - 1] > gap]
        for n, first in enumerate(breaks):
            last = (breaks[n + 1] if n + 1 < len(breaks) else len(seen)) - 1
            began, ended = seen[first], seen[last]
            rows.append({
                "alertname": labels.get("alertname", ""),
                "severity": labels.get("severity", ""),
                "labels": metrics.series_name({k: v for k, v in labels.items()
                                               if k not in _HIDDEN}),
                "started": began,
                "last_seen": ended,
                "minutes": round((ended - began).total_seconds() / 60 + step / 60, 1),
                "firing_now": bool(ended >= pd.Timestamp(end) - 2 * gap),
            })
    rows.sort(key=lambda r: r["started"])
    return pd.DataFrame(rows, columns=EPISODE_COLUMNS)


def _prom_row(alert: dict[str, Any]) -> dict[str, Any]:
    labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
    return {
        "source": "prometheus",
        "alertname": labels.get("alertname", ""),
        "severity": labels.get("severity", ""),
        "state": str(alert.get("state", "")),
        "since": str(alert.get("activeAt", "")),
        "labels": metrics.series_name({k: v for k, v in labels.items() if k not in _HIDDEN}),
    }


def _alertmanager(target: Target, rows: list[dict[str, Any]]) -> Finding:
    settings = target.prometheus
    if settings is None or not settings.alertmanager_url:
        return Finding("alertmanager", Status.SKIPPED,
                       f"no alertmanager_url configured for target {target.name}")
    from noa_lib.clients import alertmanager

    try:
        held = alertmanager.alerts(settings, active=True, silenced=True)
    except (ClientError, ConfigError) as exc:
        return Finding("alertmanager", Status.UNREACHABLE, str(exc),
                       evidence={"endpoint": settings.alertmanager_url})
    for alert in held:
        labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
        state = (alert.get("status") or {}).get("state", "")
        rows.append({
            "source": "alertmanager",
            "alertname": labels.get("alertname", ""),
            "severity": labels.get("severity", ""),
            "state": str(state),
            "since": str(alert.get("startsAt", "")),
            "labels": metrics.series_name({k: v for k, v in labels.items() if k not in _HIDDEN}),
        })
    return Finding("alertmanager", Status.OK,
                   f"Alertmanager at {settings.alertmanager_url} holds {len(held)} alert(s)",
                   value=len(held), evidence={"endpoint": settings.alertmanager_url})


def _summary(episodes: pd.DataFrame, active: list[dict[str, Any]], window: str,
             evidence: dict[str, Any]) -> Finding:
    firing = [r for r in active if r["state"] == "firing"]
    names = sorted({str(n) for n in episodes["alertname"]})
    if firing:
        severe = any(r["severity"] == "P0" for r in firing)
        now = ", ".join(sorted({f"{r['alertname']} ({r['severity'] or '?'})" for r in firing}))
        return Finding("alerts in window", Status.CRITICAL if severe else Status.WARNING,
                       f"firing now: {now}; {len(episodes)} episode(s) in the last {window}",
                       value=len(firing), evidence={**evidence, "alerts": names})
    if len(episodes):
        return Finding("alerts in window", Status.OK,
                       f"nothing fires now; {len(episodes)} episode(s) resolved in the last "
                       f"{window}: {', '.join(names)}", value=0,
                       evidence={**evidence, "alerts": names})
    return Finding("alerts in window", Status.OK, f"no alert fired in the last {window}",
                   value=0, evidence=evidence)


__all__ = ["ACTIVE_COLUMNS", "EPISODE_COLUMNS", "HISTORY_PROMQL", "AlertHistory",
           "recent_alerts"]
