"""``incident/high_error_rate``: why a service answers more than 10 % 5xx, and its mitigation.

NOA's runbook (> 10 % errors): roll back when the service's Deployment rolled out less than
``rollback_window_min`` minutes ago, else check the AI providers and the database connectivity.
:func:`diagnose_error_rate` reads, read-only: the error rate of the service, by endpoint and by
version (Prometheus: the bad release shows as the version with the errors), the alert's quick
actions (:func:`noa_lib.ops.alert_triage.triage` — AI providers, database connectivity), the
database pools, the service's revisions and when the current one rolled out, and the error
patterns of its pods' logs. :func:`decide` (pure) turns that into a :class:`Decision`: a rollback
to the previous revision, or a hand-over naming the runbook that is next — with nothing planned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError, ParameterError
from noa_lib.ops import metrics
from noa_lib.ops.alert_triage import RecentRollout, triage
from noa_lib.ops.deploy.revisions import Revision
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.logs.investigate import LogInvestigation, investigate_logs
from noa_lib.ops.mitigation import Mitigation, Verdict
from noa_lib.ops.names import validate_name
from noa_lib.ops.promql import get_query, parse_duration
from noa_lib.ops.release_history import Releases, read_releases
from noa_lib.ops.release_rollback import (
    Decision,
    RollbackChoice,
    all_of,
    check_verify_parameters,
    decided_mitigation,
    error_rate_below,
    pods_ready_on,
)
from noa_lib.ops.thresholds import THRESHOLDS

INCIDENT_ERROR_PCT = 10.0
"""NOA's incident threshold for a high error rate (the alert's is lower)."""
POOL_FULL_PCT = THRESHOLDS["db_connections"].critical
AI_RUNBOOK = "incident/ai_provider_failover"
DB_RUNBOOK = "incident/db_pool_exhausted"
LOGS_RUNBOOK = "monitoring/log_investigation"
OUTAGE_RUNBOOK = "incident/complete_outage"

@dataclass(frozen=True)
class ErrorRateDiagnosis:
    """What :func:`diagnose_error_rate` read and decided."""

    service: str
    window: str
    error_pct: float | None
    by_endpoint: tuple[tuple[str, float], ...]
    by_version: tuple[tuple[str, float], ...]
    releases: Releases | None
    logs: LogInvestigation | None
    findings: tuple[Finding, ...]
    decision: Decision

    @property
    def revisions(self) -> tuple[Revision, ...]:
        """The service's revisions, oldest first (empty when they could not be read)."""
        return self.releases.revisions if self.releases else ()

    def figures(self) -> dict[str, float | str | None]:
        return {"service": self.service, "error_rate_pct": self.error_pct,
                "decision": self.decision.action,
                "next_runbook": self.decision.next_runbook or None}


def check_parameters(service: str, window: str, rollback_window_min: int) -> None:
    """Raises ParameterError naming the bad parameter (before anything is read)."""
    validate_name(service, "service")
    try:
        parse_duration(window)
    except (ParameterError, ValueError):
        raise ParameterError(f"window={window!r} is not a duration", name="window",
                             accepted="a Prometheus duration like 5m, 15m, 1h") from None
    if isinstance(rollback_window_min, bool) or not isinstance(rollback_window_min, int) \
            or not 1 <= rollback_window_min <= 1440:
        raise ParameterError(f"rollback_window_min={rollback_window_min!r} is not in 1..1440",
                             name="rollback_window_min", accepted="minutes, 1 to 1440")


def decide(service: str, error_pct: float | None, rollout: RecentRollout | None,
           revisions: tuple[Revision, ...], *, rollback_window_min: int, ai_failing: bool,
           db_failing: bool, threshold_pct: float = INCIDENT_ERROR_PCT) -> Decision:
    """Rollback, hand-over or nothing (pure): see the module docstring."""
    if error_pct is None:
        return Decision("hand over", f"{service} has no traffic in Prometheus: not an error "
                        f"rate but an outage — run {OUTAGE_RUNBOOK}", OUTAGE_RUNBOOK)
    if error_pct <= threshold_pct:
        return Decision("none", f"{service} error rate {error_pct:.3g} % is not above "
                        f"{threshold_pct:g} %: no mitigation needed")
    above = f"{service} error rate {error_pct:.3g} % > {threshold_pct:g} %"
    current = next((r for r in revisions if r.current), None)
    earlier = [r for r in revisions if current is not None and r.number < current.number]
    recent = (rollout is not None and rollout.minutes_ago is not None
              and rollout.minutes_ago < rollback_window_min)
    if recent and current is not None and earlier and rollout is not None:
        back = earlier[-1]
        choice = RollbackChoice(rollout.deployment, "", current.number, current.image,
                                back.number, back.image,
                                f"revision {current.number} ({current.version}) rolled out "
                                f"{rollout.minutes_ago:g} min ago")
        return Decision("rollback", f"{above}; {choice.reason} (< {rollback_window_min} min): "
                        f"roll back to revision {back.number} ({back.version})", choice=choice)
    age = ("no rollout found" if rollout is None or rollout.minutes_ago is None else
           f"last rollout {rollout.minutes_ago:g} min ago (≥ {rollback_window_min} min)"
           if not recent else "no earlier revision to roll back to")
    if ai_failing:
        return Decision("hand over", f"{above}; {age}; AI providers failing — run "
                        f"{AI_RUNBOOK}", AI_RUNBOOK)
    if db_failing:
        return Decision("hand over", f"{above}; {age}; the database is failing — run "
                        f"{DB_RUNBOOK}", DB_RUNBOOK)
    return Decision("hand over", f"{above}; {age}; AI providers and database healthy — read "
                    f"the error patterns with {LOGS_RUNBOOK}", LOGS_RUNBOOK)


def diagnose_error_rate(target: Target, service: str = "api", *, window: str = "5m",
                        rollback_window_min: int = 30, namespace: str = "",
                        now: datetime | None = None) -> ErrorRateDiagnosis:
    """Read everything the decision needs (see the module docstring), read-only.

    Raises:
        ParameterError: bad parameters (before any request). Backend failures are findings.
    """
    check_parameters(service, window, rollback_window_min)
    moment = now or datetime.now(UTC)
    quick = triage(target, "HighErrorRate", {"service": service}, window=window, now=moment)
    findings = [f for f in quick.findings if f.check != "recent deployments"]
    error_pct, by_endpoint, by_version, pool_pct = _breakdowns(target, service, window)
    releases: Releases | None = None
    try:
        releases = read_releases(target, service, namespace=namespace, now=moment)
        findings.append(rollout_finding(releases, rollback_window_min))
    except (ClientError, ConfigError) as exc:
        findings.append(Finding("recent rollout", Status.UNREACHABLE, str(exc)))
    if by_version:
        worst = max(by_version, key=lambda item: item[1])
        findings.append(Finding("errors by version", Status.WARNING if worst[1] >
                                INCIDENT_ERROR_PCT else Status.OK,
                                f"worst version {worst[0]}: {worst[1]:.3g} % 5xx",
                                value=worst[1], unit="%", evidence=dict(by_version)))
    if pool_pct is not None:
        findings.append(Finding("database pool", Status.CRITICAL if pool_pct >= POOL_FULL_PCT
                                else Status.OK, f"{service} pool {pool_pct:.3g} % in use",
                                value=pool_pct, threshold=POOL_FULL_PCT, unit="%"))
    logs = None
    try:
        logs = investigate_logs(target, service, window=window, top=5)
        findings.extend(replace(f, check=f"logs: {f.check}") for f in logs.findings)
    except ConfigError as exc:
        findings.append(Finding("logs", Status.SKIPPED, str(exc)))
    ai_failing = any(f.check == "ai providers" and f.status == Status.WARNING for f in findings)
    db_failing = any(f.check == "database connectivity" and f.status in
                     (Status.UNREACHABLE, Status.CRITICAL) for f in findings) or (
        pool_pct is not None and pool_pct >= POOL_FULL_PCT)
    decision = decide(service, error_pct, releases.rollout if releases else None,
                      releases.revisions if releases else (),
                      rollback_window_min=rollback_window_min, ai_failing=ai_failing,
                      db_failing=db_failing)
    if decision.choice is not None and releases is not None:
        decision = replace(decision, choice=replace(decision.choice,
                                                    namespace=releases.namespace))
    return ErrorRateDiagnosis(service, window, error_pct, by_endpoint, by_version, releases,
                              logs, (*findings, decision.finding()), decision)


def rollout_finding(releases: Releases, rollback_window_min: int) -> Finding:
    """``warning`` when the current revision rolled out within the window, else ``ok``."""
    r = releases.rollout
    if r is None or r.minutes_ago is None:
        return Finding("recent rollout", Status.OK, f"{releases.deployment}: no rollout time")
    recent = r.minutes_ago < rollback_window_min
    return Finding("recent rollout", Status.WARNING if recent else Status.OK,
                   f"{releases.deployment} revision {r.revision} ({r.images}) rolled out "
                   f"{r.minutes_ago:g} min ago; previous revision {r.previous_revision}",
                   value=r.minutes_ago, threshold=rollback_window_min, unit="min")


def _breakdowns(target: Target, service: str, window: str
                ) -> tuple[float | None, tuple[tuple[str, float], ...],
                           tuple[tuple[str, float], ...], float | None]:
    try:
        prom = metrics.connect(target)
    except ConfigError:
        return None, (), (), None
    where = {"service": service}
    error = get_query("error_rate")
    jobs = {
        "all": lambda: metrics.read(prom, error, window=window, by=(), where=where),
        "endpoint": lambda: metrics.read(prom, error, window=window, by=("endpoint",),
                                         where=where),
        "version": lambda: metrics.read(prom, error, window=window, by=("version",),
                                        where=where),
        "pool": lambda: metrics.read(prom, get_query("db_pool_usage"), window=window, by=(),
                                     where=where),
    }
    try:
        got = metrics.parallel(jobs)
    finally:
        prom.close()

    def rows(key: str, label: str) -> tuple[tuple[str, float], ...]:
        reading = got[key]
        if isinstance(reading, ClientError):
            return ()
        return tuple(sorted(((labels.get(label, "?"), round(v, 3)) for labels, v in
                             reading.values), key=lambda item: -item[1]))

    def single(key: str) -> float | None:
        reading = got[key]
        if isinstance(reading, ClientError) or not reading.values:
            return None
        return round(reading.values[0][1], 3)

    return single("all"), rows("endpoint", "endpoint"), rows("version", "version"), \
        single("pool")


def error_rate_mitigation(target: Target, diagnosis: ErrorRateDiagnosis, *,
                          verify_window: str = "30s", verify_timeout_s: float = 180.0
                          ) -> Mitigation:
    """The mitigation the diagnosis decided: the rollback, verified by every pod Ready on the
    restored image and the service's error rate over ``verify_window`` under 10 %
    (Prometheus), rolled forward when that does not hold within ``verify_timeout_s``; or an
    empty plan naming the next runbook.

    Raises:
        ParameterError: bad ``verify_window`` / ``verify_timeout_s`` (before any request).
    """
    check_verify_parameters(verify_window, verify_timeout_s)
    service = diagnosis.service

    def verify(choice: RollbackChoice) -> Callable[[], Verdict]:
        return all_of(pods_ready_on(target, choice),
                      error_rate_below(target, service, verify_window, INCIDENT_ERROR_PCT))

    return decided_mitigation(target, diagnosis.decision, verify,
                              verify_timeout_s=verify_timeout_s)


__all__ = ["AI_RUNBOOK", "DB_RUNBOOK", "INCIDENT_ERROR_PCT", "LOGS_RUNBOOK", "OUTAGE_RUNBOOK",
           "Decision", "ErrorRateDiagnosis", "check_parameters", "decide", "diagnose_error_rate",
           "error_rate_mitigation", "rollout_finding"]
