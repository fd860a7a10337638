"""PostgreSQL sessions: who holds connections, who waits on whom, and terminating with guard rails.

:func:`read_sessions` reads ``pg_stat_activity`` once (client backends and WAL senders) with each
session's role attributes, its blockers (``pg_blocking_pids``) and its query text, which goes
through the caller's redactor before it is kept anywhere (a query can carry a literal secret).
:func:`select_sessions` applies the guard rails of a termination:

- **never** a replication connection (``backend_type = walsender``: streaming replicas,
  ``pg_basebackup``), a superuser's session or our own session — asked for by pid, it is refused
  with a message naming it and why;
- only sessions older than ``older_than_s`` (their transaction, else their query, else their
  connection) and in one of the listed ``states``.

:func:`terminate_plan` builds the :class:`~noa_lib.ops.safety.Plan`; applying it runs
``pg_terminate_backend`` only for sessions whose pid *and* backend start still match what was
read, and still pass the guard rails (re-checked in the same statement). A terminated session
cannot be revived: the plan says so, and mitigations built on it have no revert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from noa_lib.config import Target
from noa_lib.errors import ParameterError, PreconditionFailed
from noa_lib.ops.safety import Change, Plan

STATES = ("active", "idle in transaction", "idle in transaction (aborted)", "idle",
          "fastpath function call")
"""Session states ``pg_stat_activity`` reports (the values ``states`` accepts)."""
QUERY_CHARS = 300

SESSIONS_SQL = """
SELECT a.pid, a.backend_start, a.usename AS "user", a.application_name AS application,
       a.client_addr::text AS client, a.backend_type, a.state, a.wait_event_type, a.wait_event,
       extract(epoch FROM now() - coalesce(a.xact_start, a.query_start, a.backend_start))::float8
         AS age_s,
       CASE WHEN a.state = 'active' THEN extract(epoch FROM now() - a.query_start)::float8 END
         AS running_s,
       a.query, pg_blocking_pids(a.pid) AS blocked_by,
       coalesce(r.rolsuper, false) AS superuser,
       a.backend_type = 'walsender' AS replication,
       a.pid = pg_backend_pid() AS own
  FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid
 WHERE a.backend_type IN ('client backend', 'walsender')
 ORDER BY age_s DESC NULLS LAST
"""

TERMINATE_SQL = """
SELECT a.pid, pg_terminate_backend(a.pid) AS terminated
  FROM pg_stat_activity a
  JOIN unnest(%s::int[], %s::timestamptz[]) AS t(pid, started)
    ON a.pid = t.pid AND a.backend_start = t.started
  LEFT JOIN pg_roles r ON r.oid = a.usesysid
 WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
   AND NOT coalesce(r.rolsuper, false)
"""


@dataclass(frozen=True)
class Session:
    """One row of ``pg_stat_activity`` (query text redacted, at most :data:`QUERY_CHARS`)."""

    pid: int
    backend_start: datetime | None
    user: str | None
    application: str
    client: str | None
    backend_type: str
    state: str | None
    wait_event_type: str | None
    wait_event: str | None
    age_s: float
    running_s: float | None
    query: str
    blocked_by: tuple[int, ...]
    superuser: bool
    replication: bool
    own: bool

    @property
    def waiting_on_lock(self) -> bool:
        return self.wait_event_type == "Lock"

    def protected_reason(self) -> str | None:
        """Why this session may never be terminated by a runbook (``None``: it may)."""
        if self.own:
            return "our own session"
        if self.replication:
            return "a replication connection (walsender)"
        if self.superuser:
            return f"a superuser's session ({self.user})"
        return None


@dataclass(frozen=True)
class Sessions:
    """What :func:`read_sessions` read: every session, and when."""

    sessions: tuple[Session, ...]
    at: datetime
    sql: str = SESSIONS_SQL

    def of(self, application: str) -> tuple[Session, ...]:
        return tuple(s for s in self.sessions if s.application == application)

    def by_state(self) -> list[dict[str, Any]]:
        """``[{application, state, sessions}]``, most sessions first."""
        counts: dict[tuple[str, str], int] = {}
        for s in self.sessions:
            key = (s.application or "(none)", s.state or s.backend_type)
            counts[key] = counts.get(key, 0) + 1
        rows = [{"application": a, "state": st, "sessions": n} for (a, st), n in counts.items()]
        return sorted(rows, key=lambda r: (-int(r["sessions"]), str(r["application"])))

    def blockers(self) -> tuple[Session, ...]:
        """The sessions at the root of lock waits: they block a waiting session and do not wait
        on a lock themselves (``pg_blocking_pids`` also names waiters queued ahead)."""
        by_pid = {s.pid: s for s in self.sessions}
        named = {pid for s in self.sessions if s.waiting_on_lock for pid in s.blocked_by}
        return tuple(by_pid[p] for p in sorted(named)
                     if p in by_pid and not by_pid[p].waiting_on_lock)

    def waiting(self) -> tuple[Session, ...]:
        return tuple(s for s in self.sessions if s.waiting_on_lock)


@dataclass(frozen=True)
class Selection:
    """The guard rails' verdict: sessions to terminate, and those refused with the reason."""

    chosen: tuple[Session, ...]
    refused: tuple[tuple[int, str], ...]

    def refusal_message(self) -> str:
        return "; ".join(f"pid {pid}: {why}" for pid, why in self.refused)


def parse_states(states: str) -> tuple[str, ...]:
    """``"idle in transaction,active"`` -> the states, validated.

    Raises:
        ParameterError: empty, or a state PostgreSQL does not report (names ``states``).
    """
    chosen = tuple(dict.fromkeys(s.strip() for s in states.split(",") if s.strip()))
    unknown = [s for s in chosen if s not in STATES]
    if not chosen or unknown:
        raise ParameterError(f"states must list session states, got {states!r}",
                             name="states", accepted=", ".join(STATES))
    return chosen


def parse_pids(pids: str) -> tuple[int, ...]:
    """``"123, 456"`` -> pids (``""``: none).

    Raises:
        ParameterError: something that is not a positive whole number (names ``pids``).
    """
    out = []
    for part in (p.strip() for p in pids.split(",")):
        if not part:
            continue
        if not part.isdigit() or int(part) <= 0:
            raise ParameterError(f"pids must be process ids separated by commas, got {part!r}",
                                 name="pids", accepted="e.g. 4711,4712 (empty: by the filters)")
        out.append(int(part))
    return tuple(dict.fromkeys(out))


def check_age(older_than_s: float, name: str = "older_than_s") -> float:
    """``older_than_s`` if it is a number ≥ 0; else ParameterError naming ``name``."""
    if isinstance(older_than_s, bool) or not isinstance(older_than_s, int | float) \
            or older_than_s < 0:
        raise ParameterError(f"{name} must be a number of seconds >= 0, got {older_than_s!r}",
                             name=name, accepted="seconds, e.g. 60")
    return float(older_than_s)


def read_sessions(target: Target, *, redact: Callable[[str], str]) -> Sessions:
    """Read every client session and WAL sender of ``target``'s PostgreSQL.

    Returns:
        :class:`Sessions` (query texts passed through ``redact`` and cut to
        :data:`QUERY_CHARS`).
    Raises:
        PreconditionFailed: PostgreSQL is not configured for ``target``.
        ClientError: the server could not be read (see :mod:`noa_lib.clients.postgres`).
    """
    from noa_lib.clients import postgres

    if target.postgres is None:
        raise PreconditionFailed(f"PostgreSQL is not configured for target {target.name}")
    with postgres.connect(target.postgres, read_only=True) as conn:
        rows = postgres.query(conn, SESSIONS_SQL)
        at = postgres.query(conn, "SELECT now() AS at")[0]["at"]
    return Sessions(tuple(_session(r, redact) for r in rows), at)


def _session(row: dict[str, Any], redact: Callable[[str], str]) -> Session:
    text = redact(" ".join(str(row.get("query") or "").split()))
    return Session(
        pid=int(row["pid"]), backend_start=row.get("backend_start"), user=row.get("user"),
        application=str(row.get("application") or ""), client=row.get("client"),
        backend_type=str(row.get("backend_type") or ""), state=row.get("state"),
        wait_event_type=row.get("wait_event_type"), wait_event=row.get("wait_event"),
        age_s=round(float(row.get("age_s") or 0.0), 1),
        running_s=None if row.get("running_s") is None else round(float(row["running_s"]), 1),
        query=text[:QUERY_CHARS], blocked_by=tuple(int(p) for p in row.get("blocked_by") or ()),
        superuser=bool(row.get("superuser")), replication=bool(row.get("replication")),
        own=bool(row.get("own")),
    )


def select_sessions(
    sessions: Sessions,
    *,
    pids: Sequence[int] | None = None,
    applications: Iterable[str] = (),
    states: Sequence[str] = ("idle in transaction", "active"),
    older_than_s: float = 60.0,
) -> Selection:
    """Apply the guard rails: the sessions to terminate, and what was refused and why.

    With ``pids`` (not ``None``) only those are considered — none for an empty list — and each
    one that is unknown, protected, too young or in another state is refused with the reason;
    otherwise every session of ``applications`` (all when empty).
    Protected sessions (:meth:`Session.protected_reason`) are never chosen.
    """
    by_pid = {s.pid: s for s in sessions.sessions}
    apps = set(applications)
    refused: list[tuple[int, str]] = []
    chosen: list[Session] = []
    explicit = pids is not None
    pool = [by_pid[p] for p in pids if p in by_pid] if pids is not None else [
        s for s in sessions.sessions if not apps or s.application in apps]
    refused += [(p, "no such session (already gone?)") for p in pids or () if p not in by_pid]
    for s in pool:
        reason = s.protected_reason()
        if reason is not None:
            refused.append((s.pid, f"refused: {reason} is never terminated"))
        elif (s.state or "") not in states:
            if explicit:
                refused.append((s.pid, f"state {s.state!r} is not one of {', '.join(states)}"))
        elif s.age_s <= older_than_s:
            if explicit:
                refused.append((s.pid, f"only {s.age_s:g} s old (older_than_s={older_than_s:g})"))
        else:
            chosen.append(s)
    return Selection(tuple(chosen), tuple(refused))


def terminate_plan(target: Target, chosen: Sequence[Session], *, action: str) -> Plan:
    """The plan terminating ``chosen`` (one change per session: its state -> terminated).

    Applying it returns the pids PostgreSQL terminated (sessions that ended or were replaced by
    another backend meanwhile are skipped).
    """
    changes = tuple(Change(f"session/{target.name}/{s.pid}", "state",
                           f"{s.state} ({s.application or s.user}, {s.age_s:g} s)", "terminated")
                    for s in chosen)
    pids = [s.pid for s in chosen]
    started = [s.backend_start for s in chosen]

    def perform() -> list[int]:
        from noa_lib.clients import postgres

        assert target.postgres is not None  # sessions were read from it
        with postgres.connect(target.postgres) as conn:
            rows = postgres.query(conn, TERMINATE_SQL, (pids, started))
        return [int(r["pid"]) for r in rows if r["terminated"]]

    return Plan(action, target, changes, perform,
                rollback="none: a terminated session cannot be revived; its client reconnects "
                         "(its open transaction was rolled back)")


__all__ = ["QUERY_CHARS", "SESSIONS_SQL", "STATES", "Selection", "Session", "Sessions",
           "check_age", "parse_pids", "parse_states", "read_sessions", "select_sessions",
           "terminate_plan"]
