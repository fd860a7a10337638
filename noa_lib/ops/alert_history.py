"""Which alerts fired recently ("overnight") and which are active now.

History comes from Prometheus' own ``ALERTS{alertstate="firing"}`` series over the window, cut into
episodes (start, last seen, duration); the present from ``/api/v1/alerts`` and, when the target
configures one, Alertmanager's ``/api/v2/alerts`` (which also says what is silenced). Backend
problems become findings, never exceptions. The result is typed rows; ``noa_lib.show.alerts``
turns them into tables.
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
_HIDDEN = {"__name__", "alertname", "alertstate", "severity"}


@dataclass(frozen=True)
class AlertEpisode:
    """One uninterrupted stretch during which an alert fired (``labels``: the other labels as
    ``{k="v", …}``; ``minutes`` counts the last step too)."""

    alertname: str
    severity: str
    labels: str
    started: datetime
    last_seen: datetime
    minutes: float
    firing_now: bool


@dataclass(frozen=True)
class ActiveAlert:
    """An alert pending or firing now, as ``source`` (``prometheus`` or ``alertmanager``) holds
    it; ``since`` is the source's own timestamp text."""

    source: str
    alertname: str
    severity: str
    state: str
    since: str
    labels: str


@dataclass(frozen=True)
class AlertHistory:
    """``episodes``: the firing episodes in the window, oldest first; ``active``: alerts
    pending/firing now in Prometheus and held by Alertmanager; ``findings``: the summary and
    any backend problem."""

    findings: list[Finding]
    episodes: tuple[AlertEpisode, ...] = ()
    active: tuple[ActiveAlert, ...] = ()
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
    seconds = parse_duration(window)
    finish = (end or datetime.now(UTC)).replace(microsecond=0)
    if target.prometheus is None:
        return AlertHistory([metrics.not_configured(target, "alerts in window")])
    step = max(60.0, 60.0 * math.ceil(seconds / 5000 / 60))
    start = finish - timedelta(seconds=seconds)
    evidence = {"promql": HISTORY_PROMQL, "window": window, "at": metrics.iso(finish),
                "step_s": step}
    try:
        prom = metrics.connect(target).client
    except ConfigError as exc:
        return AlertHistory([Finding("alerts in window", Status.UNREACHABLE, str(exc))])
    try:
        from noa_lib.clients import prometheus

        frame = prometheus.query_range(prom, HISTORY_PROMQL, start, finish, step)
        now_alerts = prometheus.alerts(prom)
    except ClientError as exc:
        down = metrics.failure_finding("alerts in window", exc, evidence)
        return AlertHistory([down, _alertmanager(target, [])])
    finally:
        prom.close()
    episodes = _episodes(frame, step, finish)
    active_rows = [_prom_row(a) for a in now_alerts]
    am_rows: list[ActiveAlert] = []
    am_finding = _alertmanager(target, am_rows)
    summary = _summary(episodes, active_rows, window, evidence)
    figures = {
        "alert_episodes": len(episodes),
        "alerts_firing_now": sum(1 for r in active_rows if r.state == "firing"),
    }
    return AlertHistory([summary, am_finding], episodes, (*active_rows, *am_rows), figures)


def _episodes(frame: pd.DataFrame, step: float, end: datetime) -> tuple[AlertEpisode, ...]:
    """Cut each series of the ``ALERTS`` range frame (a UTC time index, one column per series,
    labels in ``frame.attrs["labels"]``) into episodes: a gap over 1.5 steps ends one."""
    rows: list[AlertEpisode] = []
    labels_of: dict[str, dict[str, str]] = frame.attrs.get("labels", {})
    gap = timedelta(seconds=1.5 * step)
    for column in frame.columns:
        seen = frame[column].dropna().index
        if len(seen) == 0:
            continue
        labels = labels_of.get(str(column), {})
        breaks = [0] + [i for i in range(1, len(seen)) if seen[i] - seen[i - 1] > gap]
        for n, first in enumerate(breaks):
            last = (breaks[n + 1] if n + 1 < len(breaks) else len(seen)) - 1
            began, ended = seen[first].to_pydatetime(), seen[last].to_pydatetime()
            rows.append(AlertEpisode(
                alertname=labels.get("alertname", ""),
                severity=labels.get("severity", ""),
                labels=metrics.series_name({k: v for k, v in labels.items()
                                            if k not in _HIDDEN}),
                started=began,
                last_seen=ended,
                minutes=round((ended - began).total_seconds() / 60 + step / 60, 1),
                firing_now=bool(ended >= end - 2 * gap),
            ))
    rows.sort(key=lambda r: r.started)
    return tuple(rows)


def _prom_row(alert: dict[str, Any]) -> ActiveAlert:
    labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
    return ActiveAlert(
        source="prometheus",
        alertname=labels.get("alertname", ""),
        severity=labels.get("severity", ""),
        state=str(alert.get("state", "")),
        since=str(alert.get("activeAt", "")),
        labels=metrics.series_name({k: v for k, v in labels.items() if k not in _HIDDEN}),
    )


def _alertmanager(target: Target, rows: list[ActiveAlert]) -> Finding:
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
        rows.append(ActiveAlert(
            source="alertmanager",
            alertname=labels.get("alertname", ""),
            severity=labels.get("severity", ""),
            state=str(state),
            since=str(alert.get("startsAt", "")),
            labels=metrics.series_name({k: v for k, v in labels.items() if k not in _HIDDEN}),
        ))
    return Finding("alertmanager", Status.OK,
                   f"Alertmanager at {settings.alertmanager_url} holds {len(held)} alert(s)",
                   value=len(held), evidence={"endpoint": settings.alertmanager_url})


def _summary(episodes: tuple[AlertEpisode, ...], active: list[ActiveAlert], window: str,
             evidence: dict[str, Any]) -> Finding:
    firing = [r for r in active if r.state == "firing"]
    names = sorted({e.alertname for e in episodes})
    if firing:
        severe = any(r.severity == "P0" for r in firing)
        now = ", ".join(sorted({f"{r.alertname} ({r.severity or '?'})" for r in firing}))
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


__all__ = ["HISTORY_PROMQL", "ActiveAlert", "AlertEpisode", "AlertHistory", "recent_alerts"]
