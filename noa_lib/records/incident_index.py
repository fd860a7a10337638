"""An SQLite index of the incidents under a records root, so ``noa incident list`` opens no files
it does not show and an alert finds its group's open incident in one query.

It lives in ``<root>/incidents/.index.sqlite`` beside the incident files (the records' index,
:mod:`noa_lib.records.index`, covers run records; a run's incident id is a column there). Like that
index it is a cache: every row comes from an incident file, and a missing, corrupt or outdated
index is rebuilt from the files (under ``.index.lock``) before it answers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from noa_lib.errors import ParameterError
from noa_lib.files import exclusive_flock

if TYPE_CHECKING:
    from noa_lib.records.incidents import Incident, IncidentStore

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: data column
INDEX_NAME = ".index.sqlite"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) SELECT {SCHEMA_VERSION}
    WHERE NOT EXISTS (SELECT 1 FROM schema_version);
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    commander TEXT,
    detected_at TEXT NOT NULL,
    updated_at TEXT,
    records INTEGER NOT NULL,
    data TEXT NOT NULL          -- the incident file's JSON: listing opens no file
);
CREATE TABLE IF NOT EXISTS incident_groups (
    group_key TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (group_key, id)
);
CREATE INDEX IF NOT EXISTS incidents_status ON incidents (status, detected_at);
"""
LIST_STATUSES = ("open", "resolved", "all", "detected", "investigating", "mitigated")


class IncidentIndex:
    """The index of ``store``'s incidents (one short-lived connection per call)."""

    def __init__(self, store: IncidentStore) -> None:
        self.store = store
        self.path = store.dir / INDEX_NAME

    def add(self, incident: Incident) -> None:
        """Insert or replace the rows of ``incident`` (call after its file is written)."""
        with self._connection() as conn:
            _upsert(conn, incident)

    def query(self, *, status: str = "open", severity: str | None = None,
              limit: int | None = None) -> list[Incident]:
        """The incidents matching ``status`` (see :data:`LIST_STATUSES`) and ``severity``, newest
        detection first, at most ``limit`` (``None``: all), as stored when last written.

        Raises:
            ParameterError: a status or severity that is not accepted (names the option), a
                negative limit.
        """
        from noa_lib.records.incidents import Incident, check_severity

        if limit is not None and limit < 0:
            raise ParameterError(f"--limit must be 0 or more, not {limit}", name="--limit")

        if status not in LIST_STATUSES:
            raise ParameterError(
                f"--status {status!r} is not accepted; accepted: {', '.join(LIST_STATUSES)}",
                name="--status", accepted=", ".join(LIST_STATUSES),
            )
        clauses, args = [], []
        if status == "open":
            clauses.append("status != 'resolved'")
        elif status != "all":
            clauses.append("status = ?")
            args.append(status)
        if severity is not None:
            clauses.append("severity = ?")
            args.append(check_severity(severity))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        if not self.store.dir.is_dir():
            return []
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT data FROM incidents{where} ORDER BY detected_at DESC, id DESC LIMIT ?",
                [*args, -1 if limit is None else limit],
            ).fetchall()
        return [Incident.from_dict(json.loads(row[0])) for row in rows]

    def open_for_group(self, group_key: str) -> list[str]:
        """Ids of open incidents that ``group_key`` opened or joined, newest first."""
        if not self.store.dir.is_dir():
            return []
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT i.id FROM incidents i JOIN incident_groups g ON g.id = i.id "
                "WHERE g.group_key = ? AND i.status != 'resolved' ORDER BY i.detected_at DESC",
                (group_key,),
            ).fetchall()
        return [row[0] for row in rows]

    def rebuild(self, *, only_if_unusable: bool = False) -> int:
        """Rewrite the index from the incident files; return how many it holds.

        With ``only_if_unusable`` nothing happens (returns -1) when, once the lock is held, the
        index turns out healthy: another process rebuilt it meanwhile, and deleting its fresh
        file under that process's writes would lose them.
        """
        with self._lock():
            if only_if_unusable:
                conn = self._open()
                if conn is not None:
                    conn.close()
                    return -1
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{self.path}{suffix}")
            return self._fill()

    # -- internals -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = self._open()
        if conn is None:
            self.rebuild(only_if_unusable=True)
            conn = self._open()
            if conn is None:
                raise sqlite3.OperationalError(f"incidents index {self.path} cannot be opened")
        try:
            yield conn
        finally:
            conn.close()

    def _open(self) -> sqlite3.Connection | None:
        if not self.path.exists():
            return None
        conn: sqlite3.Connection | None = None
        try:
            conn = _connect(self.path)
            row = conn.execute("SELECT version FROM schema_version").fetchone()
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            log.warning("incidents index %s is unusable (%s); rebuilding", self.path, exc)
            return None
        if row is None or row[0] != SCHEMA_VERSION:
            conn.close()
            return None
        return conn

    def _fill(self) -> int:
        from noa_lib.records.incidents import Incident

        self.store.dir.mkdir(parents=True, exist_ok=True)
        conn = _connect(self.path)
        try:
            conn.executescript(_SCHEMA)
            count = 0
            for file in sorted(self.store.dir.glob("INC-*.json")):
                try:
                    incident = Incident.from_dict(json.loads(file.read_text(encoding="utf-8")))
                except (OSError, ValueError) as exc:
                    log.warning("skipping incident file %s: %s", file, exc)
                    continue
                _upsert(conn, incident)
                count += 1
            return count
        finally:
            conn.close()

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return exclusive_flock(
            self.store.dir / ".index.lock", timeout=30.0,
            busy=lambda: sqlite3.OperationalError("incidents index is being rebuilt"),
        )


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _upsert(conn: sqlite3.Connection, incident: Incident) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "INSERT OR REPLACE INTO incidents (id, title, severity, status, commander, "
            "detected_at, updated_at, records, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (incident.id, incident.title, incident.severity, incident.status, incident.commander,
             incident.detected_at, incident.updated_at, len(incident.records),
             json.dumps(incident.as_dict(), ensure_ascii=False, separators=(",", ":"))),
        )
        conn.execute("DELETE FROM incident_groups WHERE id = ?", (incident.id,))
        conn.executemany("INSERT OR IGNORE INTO incident_groups (group_key, id) VALUES (?, ?)",
                         [(key, incident.id) for key in incident.group_keys])
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


__all__ = ["LIST_STATUSES", "IncidentIndex"]
