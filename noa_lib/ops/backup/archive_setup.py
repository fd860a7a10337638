"""Setting up continuous WAL archiving on a target (``ALTER SYSTEM``), as a Plan.

The plan lists every setting that must change (``wal_level``, ``archive_mode``,
``archive_command``, ``archive_timeout``) with its value before and after; applying it writes
them with ``ALTER SYSTEM`` and reloads the configuration. ``wal_level`` and ``archive_mode`` only
take effect after a server restart: the result says so rather than restarting anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from noa_lib.clients.postgres import connect, mapped_errors, query, sql
from noa_lib.config import Target
from noa_lib.errors import ParameterError
from noa_lib.ops.backup.lock import require_postgres
from noa_lib.ops.safety import Change, Plan

SETTINGS_SQL = """
SELECT name, setting, unit, context, pending_restart
FROM pg_settings
WHERE name IN ('wal_level', 'archive_mode', 'archive_command', 'archive_timeout')
"""
RESTART_CONTEXTS = frozenset({"postmaster"})


def wanted_settings(archive_command: str, archive_timeout_s: int) -> dict[str, str]:
    """The settings continuous archiving needs, with ``archive_command`` validated.

    Raises:
        ParameterError: the command lacks ``%p`` (the segment to archive) or is blank.
    """
    command = archive_command.strip()
    if not command or "%p" not in command:
        raise ParameterError(
            f"archive_command {archive_command!r} is not usable: it must name the segment with "
            "%p (and usually its file name with %f), e.g. '/usr/local/bin/wal-push %p %f'",
            name="archive_command",
            accepted="a shell command containing %p",
        )
    if archive_timeout_s < 0:
        raise ParameterError(
            "archive_timeout_s must be 0 (off) or a number of seconds",
            name="archive_timeout_s",
            accepted="an integer >= 0",
        )
    return {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": command,
        "archive_timeout": str(archive_timeout_s),
    }


def plan_archive_setup(
    target: Target, *, archive_command: str | None, archive_timeout_s: int = 60
) -> Plan:
    """The changes that make ``target`` archive WAL with ``archive_command``.

    ``archive_command=None`` means "not requested": an empty plan. ``wal_level`` is only raised
    (``logical`` stays), ``archive_mode`` ``always`` stays.

    Raises:
        ParameterError: unusable ``archive_command``.
        ConfigError: the target has no PostgreSQL.
        Unavailable / Timeout / ClientError: the server cannot be read.
    """
    if archive_command is None:
        return Plan("set up WAL archiving (not requested: no archive_command given)", target,
                    (), lambda: None)
    wanted = wanted_settings(archive_command, archive_timeout_s)
    pg = require_postgres(target)
    with connect(pg, read_only=True) as conn:
        current = {str(r["name"]): r for r in query(conn, SETTINGS_SQL)}
    changes: list[Change] = []
    for name, value in wanted.items():
        before = str(current[name]["setting"]) if name in current else None
        if _satisfied(name, before, value):
            continue
        changes.append(Change(f"postgresql/{pg.host}:{pg.port}", name, before, value))
    restart = [c.field for c in changes if _needs_restart(current.get(c.field))]
    rollback = "ALTER SYSTEM SET " + ", ".join(
        f"{c.field} = {c.before!r}" for c in changes
    ) + "; SELECT pg_reload_conf()"
    note = f" (restart needed for {', '.join(restart)})" if restart else ""
    return Plan(
        f"set up WAL archiving with ALTER SYSTEM{note}",
        target,
        tuple(changes),
        lambda: _apply(target, changes),
        rollback=rollback if changes else "",
    )


def _satisfied(name: str, before: str | None, value: str) -> bool:
    if before is None:
        return False
    if name == "wal_level":
        return before in ("replica", "logical")
    if name == "archive_mode":
        return before in ("on", "always")
    return before == value


def _needs_restart(row: Mapping[str, Any] | None) -> bool:
    return row is not None and str(row["context"]) in RESTART_CONTEXTS


def _apply(target: Target, changes: list[Change]) -> dict[str, Any]:
    """Write the settings and reload; report which still wait for a restart."""
    pg = require_postgres(target)
    with connect(pg) as conn:
        with mapped_errors(pg, conn=conn):
            for change in changes:
                conn.execute(
                    sql.SQL("ALTER SYSTEM SET {} = {}").format(
                        sql.Identifier(change.field), sql.Literal(str(change.after))
                    )
                )
            conn.execute("SELECT pg_reload_conf()")
        rows = query(conn, SETTINGS_SQL)
    pending = sorted(str(r["name"]) for r in rows if r["pending_restart"])
    return {"pending_restart": pending}


__all__ = ["plan_archive_setup", "wanted_settings"]
