"""High latency (``incident/high_latency``): p95, slow queries, lock waits, cache, CPU → the cure.

:func:`diagnose_latency` reads, for ``service``: p95 now (catalogue ``latency_p95``; the seed's bar
is :data:`LATENCY_BAR` s), the application cache hit rate, CPU as a share of the limit (cAdvisor),
and from PostgreSQL the statements running longer than ``min_duration_s``, the lock waits with
their root blockers (``pg_blocking_pids``) and, when the extension is installed, the slowest
statements of ``pg_stat_statements`` (it says so when it is not). Query texts are redacted first.

:func:`latency_mitigation` picks the cure the evidence supports:

1. lock waits explain it → terminate the blocking session(s) (guard rails of
   :mod:`noa_lib.ops.pg_sessions`; cannot be reverted);
2. else CPU above :data:`CPU_BAR` % → scale up (the Deployment's replicas, or its HPA's
   ``minReplicas`` within ``maxReplicas``; reverted to the old count when the verify fails);
3. else nothing to do, said so.

The verify reads p95 over :data:`VERIFY_WINDOW` until it is under :data:`LATENCY_BAR` s in
Prometheus (and, for a termination, the lock waits are gone).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError, ParameterError
from noa_lib.ops import metrics
from noa_lib.ops.db_pool import check_window
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.mitigation import Mitigation, Verdict
from noa_lib.ops.pg_sessions import Selection, Session, Sessions, read_sessions, select_sessions
from noa_lib.ops.pg_sessions import terminate_plan as _terminate_plan
from noa_lib.ops.promql import get_query
from noa_lib.ops.restart import ScaleTarget, scale_plan, scale_target
from noa_lib.ops.safety import Plan
from noa_lib.ops.thresholds import THRESHOLDS

LATENCY_BAR = THRESHOLDS["latency_p95"].critical
CPU_BAR = THRESHOLDS["cpu"].warning
VERIFY_WINDOW = "15s"
SCALE_FACTOR = 1.5
STATEMENTS_SQL = """
SELECT calls, round(mean_exec_time::numeric / 1000, 3)::float8 AS mean_s,
       round(max_exec_time::numeric / 1000, 3)::float8 AS max_s, query
  FROM pg_stat_statements ORDER BY mean_exec_time DESC LIMIT 5
"""


@dataclass(frozen=True)
class LatencyDiagnosis:
    """What :func:`diagnose_latency` found (values ``None`` when they could not be read)."""

    service: str
    p95_s: float | None
    cache_hit_pct: float | None
    cpu_pct: float | None
    sessions: Sessions
    slow: tuple[Session, ...]
    blockers: tuple[Session, ...]
    selection: Selection
    statements: tuple[dict[str, Any], ...]
    findings: tuple[Finding, ...]
    scale: ScaleTarget | None = None

    def figures(self) -> dict[str, Any]:
        return {"service": self.service, "p95_s": self.p95_s, "cpu_pct": self.cpu_pct,
                "cache_hit_pct": self.cache_hit_pct, "lock_waits": len(self.sessions.waiting()),
                "blockers": len(self.blockers)}


def _read(target: Target, name: str, service: str, window: str) -> metrics.Reading:
    query = get_query(name)
    where = {"service": service} if "service" in query.filters else {}  # caches are shared
    prom = metrics.connect(target)
    try:
        return metrics.read(prom, query, window=window, where=where)
    finally:
        prom.close()


def p95(target: Target, service: str, window: str) -> metrics.Reading:
    """p95 of ``service``'s requests over ``window`` (raises ConfigError / ClientError)."""
    return _read(target, "latency_p95", service, window)


def _judged(target: Target, name: str, metric: str, service: str, window: str, check: str,
            findings: list[Finding]) -> float | None:
    try:
        reading = _read(target, name, service, window)
    except (ConfigError, ClientError) as exc:
        findings.append(metrics.failure_finding(check, exc, {"window": window}))
        return None
    worst = reading.worst(THRESHOLDS[metric].higher_is_worse)
    if worst is None:
        findings.append(metrics.no_data_finding(check, reading))
        return None
    value = round(worst[1], 3)
    findings.append(Finding(check, THRESHOLDS[metric].classify(value),
                            f"{check}: {value:g}{THRESHOLDS[metric].unit} "
                            f"({THRESHOLDS[metric].describe()})", value=value,
                            unit=THRESHOLDS[metric].unit, evidence=reading.evidence()))
    return value


def _statements(target: Target, redact: Callable[[str], str]) -> tuple[dict[str, Any], ...]:
    from noa_lib.clients import postgres

    assert target.postgres is not None
    with postgres.connect(target.postgres, read_only=True) as conn:
        installed = postgres.query(conn, "SELECT 1 AS ok FROM pg_extension"
                                         " WHERE extname = 'pg_stat_statements'")
        if not installed:
            return ()
        rows = postgres.query(conn, STATEMENTS_SQL)
    return tuple({**r, "query": redact(" ".join(str(r["query"]).split()))[:300]} for r in rows)


def diagnose_latency(target: Target, *, service: str = "api", window: str = "5m",
                     min_duration_s: float = 1.0, redact: Callable[[str], str]
                     ) -> LatencyDiagnosis:
    """Read p95, cache, CPU, slow statements and lock waits for ``service`` (read-only).

    Raises:
        ParameterError: bad ``service`` (not a DNS label), ``window`` or ``min_duration_s``.
        PreconditionFailed / ClientError: PostgreSQL is not configured or cannot be read.
    """
    from noa_lib.ops.names import validate_name

    validate_name(service, "service")
    check_window(window)
    if isinstance(min_duration_s, bool) or not isinstance(min_duration_s, int | float) \
            or min_duration_s <= 0:
        raise ParameterError(f"min_duration_s must be a positive number, got {min_duration_s!r}",
                             name="min_duration_s", accepted="seconds > 0, e.g. 1.0")
    findings: list[Finding] = []
    p95_s = _judged(target, "latency_p95", "latency_p95", service, window, "p95 latency",
                    findings)
    sessions = read_sessions(target, redact=redact)
    slow = tuple(s for s in sessions.sessions
                 if s.state == "active" and (s.running_s or 0) > min_duration_s and not s.own)
    findings.append(Finding(
        "slow statements", Status.WARNING if slow else Status.OK,
        f"{len(slow)} statement(s) running longer than {min_duration_s:g} s",
        evidence={"sql": sessions.sql}))
    blockers = sessions.blockers()
    selection = select_sessions(sessions, pids=[b.pid for b in blockers],
                                states=("idle in transaction", "idle in transaction (aborted)",
                                        "active"), older_than_s=0.0)
    waits = sessions.waiting()
    findings.append(Finding(
        "lock waits", Status.CRITICAL if waits else Status.OK,
        f"{len(waits)} session(s) waiting on a lock, blocked by "
        f"{', '.join(f'pid {b.pid} ({b.application or b.user}, {b.state})' for b in blockers)}"
        if waits else "no session waits on a lock", evidence={"sql": sessions.sql}))
    if selection.refused:
        findings.append(Finding("guard rails", Status.WARNING, selection.refusal_message()))
    statements = _statements(target, redact)
    findings.append(Finding("pg_stat_statements", Status.OK if statements else Status.SKIPPED,
                            f"slowest statements by mean time: {len(statements)}" if statements
                            else "pg_stat_statements is not installed: only pg_stat_activity "
                                 "shows slow statements (CREATE EXTENSION pg_stat_statements)"))
    cache = _judged(target, "cache_hit_rate", "cache_hit_rate", service, window,
                    "application cache hit rate", findings)
    cpu = _judged(target, "cpu_usage", "cpu", service, window, "cpu", findings)
    scale = None
    if not selection.chosen and cpu is not None and cpu > CPU_BAR:
        scale = scale_target(target, service)
    return LatencyDiagnosis(service, p95_s, cache, cpu, sessions, slow, blockers, selection,
                            statements, tuple(findings), scale)


def scale_to(where: ScaleTarget) -> int:
    """The replica count a scale-up asks for: ×1.5 rounded up, within the HPA's maximum."""
    wanted = max(where.current + 1, math.ceil(where.current * SCALE_FACTOR))
    return wanted if where.maximum is None else min(wanted, where.maximum)


def latency_verify(target: Target, diagnosis: LatencyDiagnosis, *,
                   redact: Callable[[str], str], waits_gone: bool) -> Callable[[], Verdict]:
    """A verify: p95 of the service under :data:`LATENCY_BAR` s over :data:`VERIFY_WINDOW` in
    Prometheus (and, with ``waits_gone``, no session waiting on a lock)."""

    def verify() -> Verdict:
        reading = p95(target, diagnosis.service, VERIFY_WINDOW)
        worst = reading.worst()
        value = None if worst is None else round(worst[1], 3)
        waiting = len(read_sessions(target, redact=redact).waiting()) if waits_gone else 0
        ok = value is not None and value < LATENCY_BAR and waiting == 0
        return Verdict(ok, f"{diagnosis.service} p95 {value} s over {VERIFY_WINDOW} (bar "
                           f"{LATENCY_BAR:g} s); {waiting} session(s) waiting on a lock",
                       {**reading.evidence(), "p95_s": value, "lock_waits": waiting})

    return verify


def latency_mitigation(target: Target, diagnosis: LatencyDiagnosis, *,
                       redact: Callable[[str], str], verify_timeout_s: float = 90.0
                       ) -> Mitigation:
    """Terminate the blockers, else scale up, else an empty plan (see the module docstring)."""
    if diagnosis.selection.chosen:
        plan = _terminate_plan(target, diagnosis.selection.chosen,
                               action="terminate the blocking session(s)")
        return Mitigation(plan, latency_verify(target, diagnosis, redact=redact, waits_gone=True),
                          revert=None, verify_timeout_s=verify_timeout_s, verify_interval_s=3.0)
    where = diagnosis.scale
    if where is not None:
        up = scale_plan(target, where, scale_to(where))

        def revert() -> Plan:  # from what is set now back to the count before the scale-up
            now = scale_target(target, where.deployment or where.name)
            return scale_plan(target, now, where.current)

        return Mitigation(up, latency_verify(target, diagnosis, redact=redact, waits_gone=False),
                          revert=revert, verify_timeout_s=verify_timeout_s,
                          verify_interval_s=5.0)
    why = (f"no lock waits to cure and CPU {diagnosis.cpu_pct}% is not above {CPU_BAR:g} %"
           if diagnosis.cpu_pct is not None else "no lock waits to cure and no CPU reading")
    return Mitigation(Plan(f"high latency of {diagnosis.service}: {why}", target, (),
                           lambda: None),
                      latency_verify(target, diagnosis, redact=redact, waits_gone=False))


__all__ = ["CPU_BAR", "LATENCY_BAR", "VERIFY_WINDOW", "LatencyDiagnosis", "diagnose_latency",
           "latency_mitigation", "latency_verify", "p95", "scale_to"]
