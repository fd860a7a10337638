"""Database connection pool exhausted (``incident/db_pool_exhausted``): diagnose, terminate, verify.

:func:`diagnose_pool` reads the pool usage now (catalogue ``db_pool_usage``: the fullest pod of
``service``, over ``window``) and the sessions of the service's pods in ``pg_stat_activity``
(application name ``noa-<service>``), and picks the termination candidates with the guard rails
of :mod:`noa_lib.ops.pg_sessions`. :func:`pool_mitigation` terminates them; its verify reads the
pool usage again over :data:`VERIFY_WINDOW` until it is under :data:`VERIFY_BAR` % in Prometheus
and the terminated sessions are gone. Terminated sessions cannot be revived (``revert=None``).
When the pool stays full (the application keeps leaking), :func:`restart_mitigation` is the next
step: a rollout restart of the service's Deployment (:mod:`noa_lib.ops.restart`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError, ParameterError, UnsafeActionRefused
from noa_lib.ops import metrics
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.mitigation import Mitigation, MitigationOutcome, Verdict
from noa_lib.ops.pg_sessions import (
    Selection,
    Sessions,
    check_age,
    parse_pids,
    parse_states,
    read_sessions,
    select_sessions,
    terminate_plan,
)
from noa_lib.ops.promql import get_query
from noa_lib.ops.restart import restart_plan
from noa_lib.ops.safety import Plan
from noa_lib.ops.thresholds import THRESHOLDS

POOL_SERVICES = ("api", "worker")
"""NOA Server's services with a database pool (``web`` has none)."""
POOL_BAR = THRESHOLDS["db_connections"].critical
"""Pool usage (%) at which the pool counts as exhausted (the alert's bound)."""
VERIFY_BAR = THRESHOLDS["db_connections"].warning
"""Pool usage (%) the verify wants to see again: clearly back, not just under the alert."""
VERIFY_WINDOW = "15s"
"""The window the verify reads the pool usage over (short: the cure shows within seconds)."""


def application_of(service: str) -> str:
    """The ``application_name`` NOA's ``service`` pods connect with (``noa-api``)."""
    return f"noa-{service}"


def check_service(service: str) -> str:
    """``service`` if it has a database pool; else ParameterError naming ``service``."""
    if service not in POOL_SERVICES:
        raise ParameterError(f"service {service!r} has no database pool", name="service",
                             accepted=", ".join(POOL_SERVICES))
    return service


def check_window(window: str, name: str = "window") -> str:
    """``window`` if it is a Prometheus duration like ``5m``; else ParameterError."""
    from noa_lib.ops.promql_render import parse_duration

    try:
        parse_duration(window)
    except ParameterError:
        raise ParameterError(f"{name} must be a Prometheus duration, got {window!r}",
                             name=name, accepted="e.g. 30s, 5m, 1h") from None
    return window


@dataclass(frozen=True)
class PoolDiagnosis:
    """What :func:`diagnose_pool` found: the pool usage, the sessions, the candidates."""

    service: str
    usage_pct: float | None
    usage: metrics.Reading | None
    sessions: Sessions
    selection: Selection
    findings: tuple[Finding, ...]

    def figures(self) -> dict[str, Any]:
        return {"service": self.service, "pool_usage_pct": self.usage_pct,
                "sessions_of_service": len(self.sessions.of(application_of(self.service))),
                "candidates": len(self.selection.chosen)}


def pool_usage(target: Target, service: str, window: str) -> metrics.Reading:
    """The pool usage (%) of ``service``'s fullest pod over ``window``.

    Raises:
        ConfigError: Prometheus is not configured.  ClientError: it failed.
    """
    prom = metrics.connect(target)
    try:
        return metrics.read(prom, get_query("db_pool_usage"), window=window,
                            where={"service": service})
    finally:
        prom.close()


def diagnose_pool(target: Target, *, service: str = "api", older_than_s: float = 60.0,
                  states: str = "idle in transaction,active", window: str = "5m",
                  pids: str = "", redact: Callable[[str], str]) -> PoolDiagnosis:
    """Pool usage now, ``service``'s sessions, and the termination candidates (read-only).

    Returns:
        :class:`PoolDiagnosis`; findings: pool usage (critical at :data:`POOL_BAR` %), the
        service's sessions by state, the candidates and what the guard rails refused.
    Raises:
        ParameterError: a bad ``service``, ``older_than_s``, ``states``, ``window`` or ``pids``
            (before anything is read).
        UnsafeActionRefused: ``pids`` names a protected session (replication, superuser, ours).
        PreconditionFailed / ClientError: PostgreSQL is not configured or cannot be read.
    """
    check_service(service)
    age = check_age(older_than_s)
    wanted = parse_states(states)
    check_window(window)
    asked = parse_pids(pids)
    findings: list[Finding] = []
    reading: metrics.Reading | None = None
    usage: float | None = None
    try:
        reading = pool_usage(target, service, window)
        worst = reading.worst()
        usage = None if worst is None else round(worst[1], 1)
        status = Status.OK if usage is None or usage < POOL_BAR else Status.CRITICAL
        findings.append(Finding("pool usage", status,
                                f"{service} pool {usage if usage is not None else 'no data'}"
                                f"{'' if usage is None else ' %'} in use (bar {POOL_BAR:g} %)",
                                value=usage, evidence=reading.evidence()))
    except (ConfigError, ClientError) as exc:
        findings.append(metrics.failure_finding("pool usage", exc, {"window": window}))
    sessions = read_sessions(target, redact=redact)
    app = application_of(service)
    selection = select_sessions(sessions, pids=asked or None, applications=(app,), states=wanted,
                                older_than_s=age)
    protected = [(p, why) for p, why in selection.refused if why.startswith("refused:")]
    if protected:
        raise UnsafeActionRefused("; ".join(f"pid {p} {why}" for p, why in protected)
                                  + "; nothing was changed")
    mine = sessions.of(app)
    findings.append(Finding(
        "sessions", Status.WARNING if len(selection.chosen) else Status.OK,
        f"{len(mine)} session(s) of {app}; {len(selection.chosen)} candidate(s) "
        f"({', '.join(wanted)}, older than {age:g} s)",
        evidence={"sql": sessions.sql}))
    if selection.refused:
        findings.append(Finding("guard rails", Status.WARNING, selection.refusal_message()))
    return PoolDiagnosis(service, usage, reading, sessions, selection, tuple(findings))


def pool_verify(target: Target, diagnosis: PoolDiagnosis, *, redact: Callable[[str], str]
                ) -> Callable[[], Verdict]:
    """A verify: pool usage of the service under :data:`VERIFY_BAR` % (over
    :data:`VERIFY_WINDOW`) in Prometheus and the terminated sessions gone."""
    pids = {s.pid for s in diagnosis.selection.chosen}

    def verify() -> Verdict:
        reading = pool_usage(target, diagnosis.service, VERIFY_WINDOW)
        worst = reading.worst()
        left = [s.pid for s in read_sessions(target, redact=redact).sessions if s.pid in pids]
        usage = None if worst is None else round(worst[1], 1)
        ok = usage is not None and usage < VERIFY_BAR and not left
        message = (f"{diagnosis.service} pool {usage} % in use over {VERIFY_WINDOW} "
                   f"(wanted under {VERIFY_BAR:g} %); {len(left)} terminated session(s) "
                   "still there")
        return Verdict(ok, message, {**reading.evidence(), "sessions_left": left,
                                     "pool_usage_pct": usage})

    return verify


def pool_mitigation(target: Target, diagnosis: PoolDiagnosis, *, redact: Callable[[str], str],
                    verify_timeout_s: float = 60.0) -> Mitigation:
    """Terminate the candidates; verify the pool in Prometheus; no revert (sessions are gone)."""
    plan = terminate_plan(target, diagnosis.selection.chosen,
                          action=f"terminate idle/long sessions of {diagnosis.service}")
    return Mitigation(plan, pool_verify(target, diagnosis, redact=redact), revert=None,
                      verify_timeout_s=verify_timeout_s, verify_interval_s=3.0)


def restart_mitigation(target: Target, diagnosis: PoolDiagnosis, outcome: MitigationOutcome, *,
                       redact: Callable[[str], str], verify_timeout_s: float = 120.0
                       ) -> Mitigation:
    """The next step when terminating did not free the pool: a rollout restart of the
    service's Deployment (an empty plan when the pool is fine or the termination cured it; in a
    dry run the plan is shown for review)."""
    needed = outcome.status in ("not cured", "dry-run") or (
        outcome.status == "nothing to do" and diagnosis.usage_pct is not None
        and diagnosis.usage_pct >= POOL_BAR)
    plan = restart_plan(target, diagnosis.service) if needed else Plan(
        f"rollout restart of {diagnosis.service} (not needed: {outcome.status})", target, (),
        lambda: None)
    return Mitigation(plan, pool_verify(target, diagnosis, redact=redact), revert=None,
                      verify_timeout_s=verify_timeout_s, verify_interval_s=5.0)


def decisive_outcome(terminated: MitigationOutcome, restarted: MitigationOutcome
                     ) -> MitigationOutcome:
    """The outcome that decides the run: the restart's when one was planned, else the
    termination's."""
    return terminated if restarted.status == "nothing to do" else restarted


__all__ = ["POOL_BAR", "POOL_SERVICES", "VERIFY_BAR", "VERIFY_WINDOW", "PoolDiagnosis",
           "application_of", "check_service", "decisive_outcome", "check_window", "diagnose_pool",
           "pool_mitigation", "pool_usage", "pool_verify", "restart_mitigation"]
