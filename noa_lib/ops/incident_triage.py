"""Incident triage: the first notebook of every incident, read-only.

:func:`triage_incident` reads, at one instant ``at`` (now, or a past time to look back at):

1. the live **signals** (:mod:`.triage_signals`, one parallel batch of catalogue queries);
2. the **recent changes** (:mod:`.triage_changes`: rollouts, ConfigMap writes) — in parallel;
3. the **error logs** of the affected services (patterns, and the organizations / API keys on
   the failing requests), and the public api's request lines of the last minute: the API keys
   behind a surge (:mod:`.talkers`);
4. the **impact scope** and the **severity** from NOA's table (:mod:`.triage_scope`,
   :mod:`.severity`), with the evidence and the response deadline;
5. the **likely causes**, ranked, each naming the mitigation runbook with its parameters and
   the command to run it (:mod:`.triage_causes`).

Every part that cannot be read becomes a finding; nothing is changed anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError, ParameterError
from noa_lib.ops import metrics
from noa_lib.ops.alert_triage import rollback_finding
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.logs.investigate import LogInvestigation, investigate_logs
from noa_lib.ops.promql import format_duration, parse_duration
from noa_lib.ops.severity import Classification, classify_severity
from noa_lib.ops.talkers import estimate_baseline, find_flooders, top_talkers
from noa_lib.ops.triage_causes import Cause, Flooder, rank_causes
from noa_lib.ops.triage_changes import Changes, recent_changes
from noa_lib.ops.triage_scope import Impact, impact, severity_signals
from noa_lib.ops.triage_signals import Signals, read_signals

MAX_LOG_WINDOW_S = 900.0
"""Logs are read over the triage window, at most the last 15 minutes (the incident's start)."""
CALLERS_WINDOW_S = 60.0
"""Request lines of the public api read for the top API keys (a sample of the last minute)."""
PUBLIC_SERVICE = "api"
CALLERS_JOB = "callers:api"  # no service name has a colon
TOP_CAUSES = 3
"""How many causes the outcome figures name (``cause_1`` …)."""
_SEVERITY_STATUS = {"P0": Status.CRITICAL, "P1": Status.CRITICAL, "P2": Status.WARNING,
                    "P3": Status.OK}


@dataclass(frozen=True)
class IncidentTriage:
    """What triage found, for the notebook's tables and the record's figures."""

    target: str
    incident: str
    at: datetime
    window: str
    signals: Signals
    changes: Changes
    logs: tuple[LogInvestigation, ...]
    impact: Impact
    severity: Classification
    causes: tuple[Cause, ...]
    findings: tuple[Finding, ...]
    data_loss: Mapping[str, bool] = field(default_factory=dict)
    risks: tuple[str, ...] = ()

    def command(self, cause: Cause) -> str:
        return cause.command(self.target, self.incident)

    def figures(self) -> dict[str, Any]:
        """Outcome figures: severity, the ranked causes (runbook, score, command), impact."""
        out: dict[str, Any] = {
            "severity": self.severity.severity,
            "respond_within_min": int(self.severity.response_time.total_seconds() // 60),
            "likely_cause": self.causes[0].runbook if self.causes else "none",
            "causes": ", ".join(c.runbook for c in self.causes) or "none",
            "window": self.window,
        }
        for i, cause in enumerate(self.causes[:TOP_CAUSES], start=1):
            out[f"cause_{i}"] = cause.runbook
            out[f"cause_{i}_score"] = cause.score
            out[f"cause_{i}_command"] = self.command(cause)
        out.update(self.impact.figures())
        return out


def triage_incident(
    target: Target,
    *,
    incident: str = "",
    window: str = "5m",
    at: datetime | None = None,
    data_loss: Mapping[str, bool] | None = None,
    risks: Sequence[str] = (),
    lookback: timedelta = timedelta(hours=2),
) -> IncidentTriage:
    """Triage ``target`` at ``at`` (default now) over ``window``.

    ``data_loss`` are data-loss signals the caller measured (P0 when one is true); ``risks``
    name what will fail if nobody acts, measured elsewhere (the records layer adds a failed
    backup): P2.

    Raises:
        ParameterError: a bad window (before anything is read).
        ConfigError: the target has no Prometheus (triage cannot judge without metrics).
    """
    seconds = parse_duration(window)
    if seconds < 10:
        raise ParameterError(f"window={window!r} is shorter than 10s", name="window",
                             accepted="a Prometheus-style duration ≥ 10s, e.g. 30s, 5m, 15m")
    if target.prometheus is None:
        raise ConfigError(f"target {target.name} has no prometheus: triage reads its signals "
                          "there (configure [targets.<name>.prometheus])")
    moment = at or datetime.now(UTC)
    jobs: dict[str, Callable[[], Any]] = {
        "signals": lambda: read_signals(target, window=window, at=moment),
        "changes": lambda: recent_changes(target, now=moment, lookback=lookback),
    }
    done = metrics.parallel(jobs)
    signals = done["signals"]
    if isinstance(signals, ClientError):
        signals = Signals(window, moment, {}, {}, {"all": str(signals)})
    changes = done["changes"]
    if isinstance(changes, ClientError):
        changes = Changes("", (), (), (str(changes),))
    first = impact(signals)
    logs, flooders = _logs(target, first.services, min(seconds, MAX_LOG_WINDOW_S), signals)
    scope = impact(signals, logs)
    losses = dict(data_loss or {})
    measured = severity_signals(signals, scope, losses)
    measured = replace(measured, capacity_risks=(*measured.capacity_risks, *risks))
    severity = classify_severity(measured, detected=moment)
    causes = tuple(rank_causes(signals, flooders))
    findings = _findings(target, signals, changes, logs, scope, severity, causes)
    return IncidentTriage(target.name, incident, moment, window, signals, changes, logs, scope,
                          severity, causes, findings, losses, tuple(risks))


def _logs(target: Target, services: tuple[str, ...], seconds: float, signals: Signals
          ) -> tuple[tuple[LogInvestigation, ...], tuple[Flooder, ...]]:
    """The affected services' error logs, and the API keys behind a surge of the public api
    (its request lines over the last minute at most)."""
    if target.kubernetes is None:
        return (), ()
    jobs: dict[str, Callable[[], LogInvestigation]] = {
        s: _log_job(target, s, format_duration(max(seconds, 10.0))) for s in services}
    jobs[CALLERS_JOB] = _log_job(target, PUBLIC_SERVICE,
                                 format_duration(max(min(seconds, CALLERS_WINDOW_S), 10.0)),
                                 level="debug")
    try:
        done = metrics.parallel(jobs)
    except (ParameterError, ConfigError):
        return (), ()
    errors = tuple(v for k, v in done.items()
                   if k != CALLERS_JOB and isinstance(v, LogInvestigation))
    callers = done.get(CALLERS_JOB)
    if not isinstance(callers, LogInvestigation):
        return errors, ()
    return errors, _flooders(callers, signals)


def _flooders(callers: LogInvestigation, signals: Signals) -> tuple[Flooder, ...]:
    total = signals.get("request_rate").get(PUBLIC_SERVICE, 0.0)
    talkers = top_talkers(callers.lines, total_rps=total)
    baseline = signals.get("baseline_request_rate").get(PUBLIC_SERVICE, 0.0)
    if baseline <= 0:  # no history: the keys that do not stand out are the baseline
        baseline = estimate_baseline(talkers, total)
    return tuple(Flooder(t.api_key_id, t.org_id, t.rps)
                 for t in find_flooders(talkers, total, baseline))


def _log_job(target: Target, service: str, window: str, level: str = "error"
             ) -> Callable[[], LogInvestigation]:
    return lambda: investigate_logs(target, service, window=window, min_level=level, top=5)


def _findings(target: Target, signals: Signals, changes: Changes,
              logs: tuple[LogInvestigation, ...], scope: Impact, severity: Classification,
              causes: tuple[Cause, ...]) -> tuple[Finding, ...]:
    out = [Finding("severity", _SEVERITY_STATUS[severity.severity],
                   f"{severity.severity} ({severity.meaning}): " + "; ".join(severity.reasons)
                   + f" — respond within {format_duration(severity.response_time.total_seconds())}",
                   value=severity.severity, evidence=severity.as_dict())]
    if signals.unreadable:
        out.append(Finding("signals", Status.UNREACHABLE,
                           f"{len(signals.unreadable)} signal(s) could not be read: "
                           + ", ".join(sorted(signals.unreadable)),
                           evidence=dict(signals.unreadable)))
    out.append(_impact_finding(scope))
    if changes.errors:
        out.append(Finding("recent changes", Status.UNREACHABLE, "; ".join(changes.errors)))
    if changes.namespace:
        service = scope.services[0] if scope.services else None
        out.append(rollback_finding(changes.rollouts, service, changes.namespace))
    if changes.configmaps:
        latest = changes.configmaps[0]
        out.append(Finding("configmap changes", Status.WARNING,
                           f"{len(changes.configmaps)} ConfigMap(s) written lately; newest: "
                           f"{latest.name} {latest.minutes_ago:g} min ago ({latest.how})",
                           value=len(changes.configmaps),
                           evidence={"changes": [c.name for c in changes.configmaps]}))
    out.extend(_log_findings(logs))
    if causes:
        top = causes[0]
        out.append(Finding("likely cause", Status.WARNING,
                           f"{top.title} (score {top.score:g}): open {top.runbook} — "
                           f"{'; '.join(top.evidence)}", value=top.runbook,
                           evidence={"causes": [c.as_dict(target.name) for c in causes]}))
    else:
        out.append(Finding("likely cause", Status.OK,
                           "no likely cause: every signal is under its bar"))
    return tuple(out)


def _impact_finding(scope: Impact) -> Finding:
    if not scope.services:
        return Finding("impact", Status.OK, "no service affected (errors < 5 %, p95 ≤ 1 s, "
                       "every service serving)", value=0, evidence=scope.figures())
    share = "" if scope.error_share is None else f"{100 * scope.error_share:.1f} % of requests " \
        "failing, "
    detail = f"{share}{round(scope.requests_failed)} failed in the window"
    if scope.endpoints:
        detail += "; endpoints: " + ", ".join(f"{e.service} {e.endpoint} {e.error_pct:g} %"
                                               for e in scope.endpoints[:3])
    if scope.organizations_hit:
        detail += f"; {scope.organizations_hit} organization(s) hit"
    status = Status.CRITICAL if scope.services_down else Status.WARNING
    return Finding("impact", status,
                   f"affected: {', '.join(scope.services)}"
                   + (f" (down: {', '.join(scope.services_down)})" if scope.services_down else "")
                   + f"; {detail}", value=len(scope.services), evidence=scope.figures())


def _log_findings(logs: tuple[LogInvestigation, ...]) -> list[Finding]:
    out = []
    for investigation in logs:
        if not investigation.groups:
            continue
        top = investigation.groups[0]
        out.append(Finding(f"log patterns {investigation.service}", Status.WARNING,
                           f"{len(investigation.lines)} error line(s) in {investigation.window}; "
                           f"top pattern ({top.count}×): {top.pattern}",
                           value=len(investigation.lines),
                           evidence={"patterns": [g.pattern for g in investigation.groups[:5]]}))
    return out


__all__ = ["IncidentTriage", "TOP_CAUSES", "triage_incident"]
