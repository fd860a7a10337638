"""One run at a time: a PostgreSQL advisory lock per (operation, database) on the target.

:func:`operation_lock` opens a dedicated session to the database being backed up and takes
``pg_try_advisory_lock(hashtext('noa-<operation>:<database>'))`` on it for the whole run. A second
run of the same operation on the same database fails at once with a
:class:`~noa_lib.errors.PreconditionFailed` naming who holds the lock (process id and host of the
other run, read from its session's ``application_name``, and since when). The lock lives in the
server, so it works across machines and CronJob pods, and it disappears with its session: a run
that dies (killed pod, OOM, lost network) never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from noa_lib.clients.postgres import connect, query
from noa_lib.config import PostgresSettings, Target
from noa_lib.errors import ConfigError, NoaError, PreconditionFailed

_APP_RE = re.compile(r"pid=(\d+)@(\S+)")
_HOLDER_SQL = """
SELECT a.pid AS backend_pid, a.application_name, a.backend_start,
       host(a.client_addr) AS client_addr
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid::bigint = ((hashtext(%(key)s)::bigint >> 32) & 4294967295)
  AND l.objid::bigint = (hashtext(%(key)s)::bigint & 4294967295)
  AND a.pid <> pg_backend_pid()
LIMIT 1
"""


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock: the other run's process and host (when it is one of ours), its server
    session, and when that session started."""

    backend_pid: int
    os_pid: int | None
    host: str | None
    client_addr: str | None
    since: datetime | None

    def describe(self) -> str:
        who = f"pid {self.os_pid} on {self.host}" if self.os_pid else "an unknown process"
        since = f", since {self.since:%Y-%m-%d %H:%M:%S %Z}" if self.since else ""
        return f"{who}, server session {self.backend_pid}{since}"


def lock_key(operation: str, database: str) -> str:
    """The text hashed into the advisory lock key, e.g. ``noa-full_backup:noa``."""
    return f"noa-{operation}:{database}"


def require_postgres(target: Target) -> PostgresSettings:
    """The target's PostgreSQL settings.

    Raises:
        ConfigError: the target has no ``postgres`` section.
    """
    if target.postgres is None:
        raise ConfigError(f"target {target.name!r} has no [targets.{target.name}.postgres] section")
    return target.postgres


@contextlib.contextmanager
def operation_lock(target: Target, operation: str, database: str) -> Iterator[None]:
    """Hold the lock of ``operation`` on ``database`` of ``target`` for the ``with`` block.

    Raises:
        PreconditionFailed: another run holds it (the message says which and since when).
        ConfigError / Unavailable / Timeout / ClientError: the database cannot be reached.
    """
    settings = require_postgres(target)
    key = lock_key(operation, database)
    conn = connect(settings, dbname=database, statement_timeout_ms=30_000)
    try:
        app = f"noa-runbooks {operation} pid={os.getpid()}@{socket.gethostname()}"[:63]
        query(conn, "SELECT set_config('application_name', %s, false)", (app,))
        rows = query(conn, "SELECT pg_try_advisory_lock(hashtext(%s)) AS ok", (key,))
        if not rows or not rows[0]["ok"]:
            holder = _holder(conn, key)
            detail = holder.describe() if holder else "holder not visible to this role"
            raise PreconditionFailed(
                f"another {operation} of {database} on {target.name} is running ({detail}); "
                "wait for it to finish (the lock is released when its session ends)"
            )
        try:
            yield
        finally:
            with contextlib.suppress(NoaError):  # a dead session released the lock already
                query(conn, "SELECT pg_advisory_unlock(hashtext(%s))", (key,))
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def _holder(conn: Any, key: str) -> LockHolder | None:
    rows = query(conn, _HOLDER_SQL, {"key": key})
    if not rows:
        return None
    row = rows[0]
    match = _APP_RE.search(str(row.get("application_name") or ""))
    return LockHolder(
        backend_pid=int(row["backend_pid"]),
        os_pid=int(match.group(1)) if match else None,
        host=match.group(2) if match else None,
        client_addr=row.get("client_addr"),
        since=row.get("backend_start"),
    )


def lock_is_free(target: Target, operation: str, database: str) -> LockHolder | None:
    """``None`` when nobody holds the lock now, else who does (takes and releases it at once).

    Raises:
        ConfigError / Unavailable / Timeout / ClientError: the database cannot be reached.
    """
    try:
        with operation_lock(target, operation, database):
            return None
    except PreconditionFailed:
        settings = require_postgres(target)
        with connect(settings, dbname=database, read_only=True) as conn:
            holder = _holder(conn, lock_key(operation, database))
        return holder or LockHolder(0, None, None, None, None)


__all__ = ["LockHolder", "lock_is_free", "lock_key", "operation_lock", "require_postgres"]
