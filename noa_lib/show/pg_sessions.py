"""Database sessions for the incident notebooks: the typed rows of :mod:`noa_lib.ops.pg_sessions`,
:mod:`noa_lib.ops.db_pool` and :mod:`noa_lib.ops.latency` as tables (columns even when empty)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from noa_lib.ops.pg_sessions import Selection, Session, Sessions

if TYPE_CHECKING:
    import pandas as pd

    from noa_lib.ops.latency import LatencyDiagnosis

SESSION_COLUMNS = ["pid", "application", "user", "state", "wait", "age_s", "running_s",
                   "blocked_by", "protected", "query"]


def _frame(rows: Iterable[Mapping[str, Any]], columns: list[str], title: str) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(list(rows), columns=columns)
    frame.attrs["title"] = title
    return frame


def _row(s: Session) -> dict[str, Any]:
    wait = f"{s.wait_event_type}:{s.wait_event}" if s.wait_event_type else ""
    return {"pid": s.pid, "application": s.application, "user": s.user, "state": s.state,
            "wait": wait, "age_s": s.age_s, "running_s": s.running_s,
            "blocked_by": ", ".join(str(p) for p in s.blocked_by),
            "protected": s.protected_reason() or "", "query": s.query}


def sessions_by_state_table(sessions: Sessions) -> pd.DataFrame:
    """Sessions per application and state, most first."""
    return _frame(sessions.by_state(), ["application", "state", "sessions"],
                  "sessions by application and state")


def sessions_table(sessions: Sessions | Iterable[Session], application: str = "",
                   title: str = "sessions") -> pd.DataFrame:
    """One row per session (oldest first), of ``application`` when given; query text redacted."""
    rows = sessions.sessions if isinstance(sessions, Sessions) else tuple(sessions)
    chosen = [s for s in rows if not application or s.application == application]
    return _frame((_row(s) for s in chosen), SESSION_COLUMNS,
                  f"{title} of {application}" if application else title)


def candidates_table(selection: Selection) -> pd.DataFrame:
    """The sessions the guard rails let through (to terminate) and those refused, with why."""
    rows = [{**_row(s), "verdict": "terminate"} for s in selection.chosen]
    rows += [{"pid": pid, "verdict": why} for pid, why in selection.refused]
    return _frame(rows, ["verdict", *SESSION_COLUMNS], "termination candidates")


def lock_waits_table(diagnosis: LatencyDiagnosis) -> pd.DataFrame:
    """The sessions waiting on a lock and their root blockers (role column says which)."""
    rows = [{**_row(s), "role": "blocker"} for s in diagnosis.blockers]
    rows += [{**_row(s), "role": "waiting"} for s in diagnosis.sessions.waiting()]
    return _frame(rows, ["role", *SESSION_COLUMNS], "lock waits")


def slow_statements_table(diagnosis: LatencyDiagnosis) -> pd.DataFrame:
    """Statements running longer than ``min_duration_s`` now (pg_stat_activity)."""
    return sessions_table(diagnosis.slow, title="slow statements")


def statements_table(diagnosis: LatencyDiagnosis) -> pd.DataFrame:
    """The slowest statements by mean time (pg_stat_statements; empty when not installed)."""
    return _frame(diagnosis.statements, ["calls", "mean_s", "max_s", "query"],
                  "pg_stat_statements: slowest by mean time")


__all__ = ["SESSION_COLUMNS", "candidates_table", "lock_waits_table", "sessions_by_state_table",
           "sessions_table", "slow_statements_table", "statements_table"]
