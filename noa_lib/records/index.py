"""An SQLite index of the records under a reports root, so listing never opens notebooks.

The index lives in ``<root>/.index.sqlite`` (WAL journal). It is a cache: every row is derived from
a record's ``metadata.noa`` (already redacted by the runner), so it can always be thrown away and
rebuilt from the files. The runner calls :meth:`RecordIndex.add` right after a record file is in
place; :meth:`RecordIndex.query`, :meth:`~RecordIndex.get` and :meth:`~RecordIndex.figures` rebuild
the index first when it is missing, corrupt, or of an older schema.

Concurrency: writers hold short ``BEGIN IMMEDIATE`` transactions and wait on a busy timeout.
:meth:`RecordIndex.rebuild` scans into a temporary database first (no lock held), then under an
exclusive lock on ``<root>/.index.lock`` either replaces the index file with ``os.replace`` (when it
is missing or broken) or, when it is healthy, swaps the contents in one transaction: renaming a
database over one that other processes hold open in WAL mode can pair the new file with their old
``-wal`` file. ``add`` holds the lock shared, so no record added during a rebuild is lost.

Example::

    index = RecordIndex(config.reports_dir)
    for rec in index.query(runbook="backup/validate_backup", since=parse_since("30d")):
        ...
    trend = index.figures("backup/validate_backup", since=parse_since("90d"))
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from noa_lib.errors import ParameterError
from noa_lib.records.metadata import (
    format_timestamp,
    parse_timestamp,
    read_record_metadata,
    time_from_filename,
)

if TYPE_CHECKING:
    import pandas as pd

try:  # POSIX only; without it concurrent rebuilds may drop a record until the next rebuild
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["INDEX_NAME", "RecordIndex", "RecordSummary", "parse_since"]

_log = logging.getLogger(__name__)

INDEX_NAME = ".index.sqlite"
SCHEMA_VERSION = 2  # 2: incident column
BUSY_TIMEOUT_S = 30.0
_ATTEMPTS = 3  # open-or-rebuild tries before giving up on a broken index

_T = TypeVar("_T")

# Summary columns come first and the bulky JSON last: SQLite stops decoding a row (and skips its
# overflow pages) once it has the columns a query asks for.
_COLUMNS = (
    "run_id",
    "runbook",
    "area",
    "target",
    "status",
    "outcome_status",
    "started_at",
    "duration_s",
    "operator",
    "trigger_kind",
    "incident",
    "path",
    "html",
    "summary",
    "indexed_at",
    "figures",
    "meta",
)
_SCHEMA = f"""
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) VALUES ({SCHEMA_VERSION});
CREATE TABLE records (
    run_id TEXT PRIMARY KEY,
    runbook TEXT NOT NULL,
    area TEXT,
    target TEXT,
    status TEXT,
    outcome_status TEXT,
    started_at TEXT NOT NULL,  -- fixed-width UTC text, sorts chronologically
    duration_s REAL,
    operator TEXT,
    trigger_kind TEXT,
    incident TEXT,             -- metadata.noa.incident: the incident the run belongs to
    path TEXT NOT NULL,        -- record .ipynb, relative to the root
    html TEXT,
    summary TEXT,
    indexed_at REAL NOT NULL,  -- time.time() when the row was written
    figures TEXT NOT NULL,     -- JSON object: outcome.figures
    meta TEXT NOT NULL         -- JSON object: the full metadata.noa
);
"""
_INDEXES = """
CREATE INDEX records_runbook_started ON records (runbook, started_at);
CREATE INDEX records_status_started ON records (status, started_at);
CREATE INDEX records_started ON records (started_at);
CREATE INDEX records_incident_started ON records (incident, started_at);
"""
_UPSERT = (
    f"INSERT OR REPLACE INTO records ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMNS)})"
)
_SUMMARY_SELECT = (
    "SELECT run_id, runbook, target, status, outcome_status, started_at, duration_s, operator, "
    "trigger_kind, path, html, summary, incident FROM records"
)
_BROKEN_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CANTOPEN}


@dataclass(frozen=True, slots=True)
class RecordSummary:
    """One record as ``noa reports list`` shows it; ``path`` and ``html`` are root-relative."""

    run_id: str
    runbook: str
    target: str | None
    status: str | None  # succeeded | failed | stopped-early
    outcome_status: str | None  # ok | warning | critical | unreachable
    started_at: datetime  # aware, UTC
    duration_s: float | None
    operator: str | None
    trigger: str | None  # manual | cron | alert
    path: str
    html: str | None
    summary: str | None
    incident: str | None = None  # the incident the run belongs to


class RecordIndex:
    """The index of the records under ``root`` (stored in ``<root>/.index.sqlite``).

    Safe to share between threads and to use from several processes at once: every call opens its
    own short-lived connection. A root that does not exist reads as empty and is not created.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self.path = self.root / INDEX_NAME

    def __repr__(self) -> str:
        return f"RecordIndex({str(self.root)!r})"

    # -- writing ---------------------------------------------------------------------------------

    def add(self, meta: Mapping[str, Any]) -> None:
        """Insert or replace the row of one record from its ``metadata.noa``.

        Call it after the record file is in place: when the index is missing or broken it is
        rebuilt from the files first. Raises ``ValueError`` when ``meta`` lacks ``run_id`` or a
        start time (``started_at``, or the time in ``record.ipynb``'s file name).
        """
        row = _row(meta, None)
        self.root.mkdir(parents=True, exist_ok=True)
        for attempt in range(_ATTEMPTS):
            with self._lock(exclusive=False):
                conn = self._try_open()
                if conn is not None:
                    try:
                        conn.execute("BEGIN IMMEDIATE")
                        conn.execute(_UPSERT, (*row[:-3], time.time(), *row[-2:]))
                        conn.execute("COMMIT")
                        return
                    except sqlite3.DatabaseError as exc:
                        if attempt == _ATTEMPTS - 1 or not _is_broken(exc):
                            raise
                        _log.warning("record index %s is corrupt (%s); rebuilding", self.path, exc)
                    finally:
                        conn.close()
                elif attempt == _ATTEMPTS - 1:
                    raise sqlite3.OperationalError(f"record index {self.path} cannot be opened")
            self._rebuild()

    def rebuild(self) -> int:
        """Rescan the root for record notebooks and rewrite the index; return how many it holds.

        Files without ``metadata.noa`` are skipped; unreadable or corrupt ones are skipped with a
        warning (logged). Rows of records added while the scan ran are kept.
        """
        if not self.root.is_dir():
            return 0
        return self._rebuild()

    # -- reading ---------------------------------------------------------------------------------

    def query(
        self,
        *,
        runbook: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        target: str | None = None,
        trigger: str | None = None,
        incident: str | None = None,
        limit: int | None = 50,
    ) -> list[RecordSummary]:
        """Records matching every given filter, newest first, at most ``limit`` (``None``: all).

        ``runbook`` is ``<area>/<name>``; ``status`` the run status (succeeded, failed,
        stopped-early); ``since`` keeps records started at or after it (naive means UTC);
        ``trigger`` is manual, cron or alert; ``incident`` an incident id. Raises
        ``ParameterError`` for a negative limit.
        """
        if limit is not None and limit < 0:
            raise ParameterError(f"limit must be 0 or more, not {limit}", name="limit")
        clauses: list[str] = []
        args: list[Any] = []
        for column, value in (
            ("runbook", runbook),
            ("status", status),
            ("target", target),
            ("trigger_kind", trigger),
            ("incident", incident),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            clauses.append("started_at >= ?")
            args.append(format_timestamp(since))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"{_SUMMARY_SELECT}{where} ORDER BY started_at DESC, run_id DESC LIMIT ?"
        args.append(-1 if limit is None else limit)
        if not self.root.is_dir():
            return []
        rows = self._read(lambda conn: conn.execute(sql, args).fetchall())
        return [_summary(row) for row in rows]

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The full stored ``metadata.noa`` of a record, by run id or a unique prefix of it.

        Returns ``None`` when nothing matches. Raises ``ParameterError`` listing the candidates when
        the prefix matches several records, or when ``run_id`` is empty.
        """
        run_id = run_id.strip()
        if not run_id:
            raise ParameterError("a run id (or a prefix of one) is required", name="run_id")
        if not self.root.is_dir():
            return None
        # The prefix is a range on the primary key: run_id >= prefix AND run_id < prefix + 1.
        upper = run_id[:-1] + chr(ord(run_id[-1]) + 1)

        def lookup(conn: sqlite3.Connection) -> list[Any]:
            exact = conn.execute("SELECT run_id, meta FROM records WHERE run_id = ?", (run_id,))
            found = exact.fetchall()
            if found:
                return found
            return conn.execute(
                "SELECT run_id, meta FROM records WHERE run_id >= ? AND run_id < ? "
                "ORDER BY run_id LIMIT 11",
                (run_id, upper),
            ).fetchall()

        rows = self._read(lookup)
        if not rows:
            return None
        if len(rows) > 1:
            shown = ", ".join(row[0] for row in rows[:10])
            more = " and more" if len(rows) > 10 else ""
            raise ParameterError(
                f"run id prefix {run_id!r} is ambiguous: {shown}{more}",
                name="run_id",
                accepted="a longer prefix or the full run id",
            )
        meta: dict[str, Any] = json.loads(rows[0][1])
        return meta

    def figure_rows(
        self, runbook: str, *, since: datetime | None = None
    ) -> list[tuple[str, datetime, str | None, str | None, dict[str, Any]]]:
        """Outcome figures of a runbook's records, oldest first (then by ``run_id``): one
        ``(run_id, started_at (UTC), status, outcome_status, figures)`` per run."""
        sql = "SELECT run_id, started_at, status, outcome_status, figures FROM records"
        args: list[Any] = [runbook]
        sql += " WHERE runbook = ?"
        if since is not None:
            sql += " AND started_at >= ?"
            args.append(format_timestamp(since))
        sql += " ORDER BY started_at, run_id"
        if not self.root.is_dir():
            return []
        rows = self._read(lambda conn: conn.execute(sql, args).fetchall())
        return [
            (run, parse_timestamp(started), status, outcome_status, json.loads(figures_json))
            for run, started, status, outcome_status, figures_json in rows
        ]

    def figures(self, runbook: str, *, since: datetime | None = None) -> pd.DataFrame:
        """Outcome figures of a runbook's records as one DataFrame, oldest first (for trends).

        One row per run: ``run_id``, ``started_at`` (UTC), ``status``, ``outcome_status``, then one
        column per figure name seen in any run (missing values are NaN/None). A figure whose name
        clashes with those four columns is renamed ``figure_<name>``.
        """
        import pandas as pd

        base = ["run_id", "started_at", "status", "outcome_status"]
        names: dict[str, str] = {}  # figure name -> column, in first-seen order
        data: list[dict[str, Any]] = []
        for run, started, status, outcome_status, figures in self.figure_rows(runbook, since=since):
            item: dict[str, Any] = {
                "run_id": run,
                "started_at": started,
                "status": status,
                "outcome_status": outcome_status,
            }
            for name, value in figures.items():
                column = names.setdefault(name, f"figure_{name}" if name in base else name)
                item[column] = value
            data.append(item)
        frame = pd.DataFrame(data, columns=[*base, *names.values()])
        frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
        return frame

    # -- internals -------------------------------------------------------------------------------

    def _read(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` on a healthy index, rebuilding it first when missing or broken."""
        for attempt in range(_ATTEMPTS):
            conn = self._try_open()
            if conn is None:
                if attempt == _ATTEMPTS - 1:
                    break
                self._rebuild()
                continue
            try:
                return work(conn)
            except sqlite3.DatabaseError as exc:
                if attempt == _ATTEMPTS - 1 or not _is_broken(exc):
                    raise
                _log.warning("record index %s is corrupt (%s); rebuilding", self.path, exc)
            finally:
                conn.close()
            self._rebuild()
        raise sqlite3.OperationalError(f"record index {self.path} cannot be opened")

    def _try_open(self) -> sqlite3.Connection | None:
        """A connection to the index, or ``None`` when it is missing, corrupt or outdated."""
        if not self.path.exists():
            return None
        try:
            conn = _connect(self.path, create=False)
        except sqlite3.DatabaseError as exc:
            if _is_broken(exc):
                return None
            raise
        try:
            version = conn.execute("SELECT version FROM schema_version").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            if _is_broken(exc):
                _log.warning("record index %s is unusable (%s); rebuilding", self.path, exc)
                return None
            raise
        if version is None or version[0] != SCHEMA_VERSION:
            conn.close()
            _log.info("record index %s has schema %s; rebuilding", self.path, version)
            return None
        return conn

    def _rebuild(self) -> int:
        started = time.time()
        fd, tmp_name = tempfile.mkstemp(prefix=f"{INDEX_NAME}.", suffix=".tmp", dir=self.root)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            count = self._build(tmp, started)
            with self._lock(exclusive=True):
                conn = self._try_open()
                if conn is not None:
                    try:
                        _swap_in_place(conn, tmp, started)
                        return count
                    except sqlite3.DatabaseError as exc:
                        if not _is_broken(exc):
                            raise
                        _log.warning("record index %s is corrupt (%s); replacing", self.path, exc)
                    finally:
                        conn.close()
                for suffix in ("-wal", "-shm", "-journal"):  # never pair the new file with these
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(f"{self.path}{suffix}")
                os.replace(tmp, self.path)
                return count
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def _build(self, tmp: Path, started: float) -> int:
        """Write a complete index of the files under the root into ``tmp``; return its row count."""
        conn = _connect(tmp, create=True)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.executescript(_SCHEMA)
            conn.execute("BEGIN")
            batch: list[tuple[Any, ...]] = []
            for row in self._scan(started):
                batch.append(row)
                if len(batch) >= 1000:
                    conn.executemany(_UPSERT, batch)
                    batch.clear()
            conn.executemany(_UPSERT, batch)
            conn.execute("COMMIT")
            conn.executescript(_INDEXES)
            conn.execute("ANALYZE")
            count: int = conn.execute("SELECT count(*) FROM records").fetchone()[0]
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()
        with open(tmp, "rb") as handle:  # durable before it becomes the index
            os.fsync(handle.fileno())
        # mkstemp makes 0600 files; let whoever may write records (the root's mode) use the index.
        os.chmod(tmp, self.root.stat().st_mode & 0o666)
        return count

    def _scan(self, indexed_at: float) -> Iterator[tuple[Any, ...]]:
        """Index rows of every record notebook under the root (hidden files and dirs skipped)."""
        root = str(self.root)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
            prefix = "" if rel_dir == "." else f"{rel_dir}/"
            for name in sorted(filenames):
                if not name.endswith(".ipynb") or name.startswith("."):
                    continue
                file = os.path.join(dirpath, name)
                try:
                    meta = read_record_metadata(file)
                    if meta is None:
                        _log.debug("skipping %s: no metadata.noa", file)
                        continue
                    row = _row(meta, prefix + name)
                except (OSError, ValueError) as exc:
                    _log.warning("skipping record %s: %s", file, exc)
                    continue
                yield (*row[:-3], indexed_at, *row[-2:])

    @contextlib.contextmanager
    def _lock(self, *, exclusive: bool) -> Iterator[None]:
        if fcntl is None:  # pragma: no cover - Windows
            yield
            return
        with open(self.root / ".index.lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _connect(path: Path, *, create: bool) -> sqlite3.Connection:
    mode = "rwc" if create else "rw"  # never create an empty index by merely opening it
    conn = sqlite3.connect(
        f"{path.as_uri()}?mode={mode}", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None
    )
    conn.execute("PRAGMA synchronous = NORMAL")  # enough in WAL mode; the index is rebuildable
    return conn


def _swap_in_place(conn: sqlite3.Connection, fresh: Path, started: float) -> None:
    """Make ``conn``'s records those of ``fresh`` in one transaction, keeping rows added since
    ``started`` and leaving identical rows untouched."""
    columns = ", ".join(_COLUMNS)
    conn.execute("ATTACH DATABASE ? AS fresh", (f"{fresh.as_uri()}?mode=ro",))
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "DELETE FROM main.records WHERE indexed_at < ? "
                "AND run_id NOT IN (SELECT run_id FROM fresh.records)",
                (started,),
            )
            conn.execute(
                f"INSERT OR REPLACE INTO main.records ({columns}) SELECT {columns} "
                "FROM fresh.records AS f WHERE NOT EXISTS (SELECT 1 FROM main.records AS m "
                "WHERE m.run_id = f.run_id AND (m.indexed_at >= ? "
                "OR (m.meta = f.meta AND m.path = f.path)))",
                (started,),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may already have rolled back (e.g. on corruption)
                conn.execute("ROLLBACK")
            raise
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("DETACH DATABASE fresh")


def _is_broken(exc: sqlite3.DatabaseError) -> bool:
    """Whether ``exc`` means the index file is unusable (as opposed to busy or locked)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and (code & 0xFF) in _BROKEN_CODES:  # extended codes too
        return True
    return "no such table" in str(exc) or "malformed" in str(exc)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _row(meta: Mapping[str, Any], rel_path: str | None) -> tuple[Any, ...]:
    """The index row for ``meta`` (``indexed_at`` is a placeholder); ``ValueError`` if unusable.

    ``rel_path`` is where the record was found (rebuild); ``add`` takes it from ``record.ipynb``.
    """
    run_id = meta.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise ValueError("metadata.noa has no run_id")
    record = meta.get("record")
    record = record if isinstance(record, Mapping) else {}
    path = rel_path or _text(record.get("ipynb"))
    runbook = _text(meta.get("runbook"))
    if runbook is None and path is not None and path.count("/") >= 2:
        runbook = path.rsplit("/", 1)[0]
    if runbook is None:
        raise ValueError(f"metadata.noa of {run_id} has no runbook")
    started = _start_text(meta.get("started_at"), path)
    if started is None:
        raise ValueError(f"metadata.noa of {run_id} has no valid started_at")
    if path is None:
        path = f"{runbook}/{started[:4]}{started[5:7]}{started[8:13]}{started[14:16]}"
        path += f"{started[17:19]}Z_{run_id}.ipynb"
    # A rebuild trusts where the file is (records may have been moved); the HTML lies beside it.
    html = _text(record.get("html")) if rel_path is None else None
    if html is None:
        html = (path[: -len(".ipynb")] if path.endswith(".ipynb") else path) + ".html"
    outcome = meta.get("outcome")
    outcome = outcome if isinstance(outcome, Mapping) else {}
    figures = outcome.get("figures")
    trigger = meta.get("trigger")
    trigger_kind = _text(trigger.get("kind")) if isinstance(trigger, Mapping) else _text(trigger)
    duration = meta.get("duration_s")
    return (
        run_id,
        runbook,
        _text(meta.get("area")) or runbook.split("/", 1)[0],
        _text(meta.get("target")),
        _text(meta.get("status")),
        _text(outcome.get("status")),
        started,
        float(duration)
        if isinstance(duration, int | float) and not isinstance(duration, bool)
        else None,
        _text(meta.get("operator")),
        trigger_kind,
        _text(meta.get("incident")),
        path,
        html,
        _text(outcome.get("summary")),
        0.0,  # indexed_at, filled in by the writer
        _JSON.encode(dict(figures) if isinstance(figures, Mapping) else {}),
        _JSON.encode(dict(meta)),
    )


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)
_CANONICAL_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _start_text(raw: Any, path: str | None) -> str | None:
    """``started_at`` as fixed-width UTC text, else the time in the record's file name."""
    if isinstance(raw, str):
        if _CANONICAL_TIME_RE.match(raw):  # what the runner writes: no need to parse it
            return raw
        with contextlib.suppress(ValueError):
            return format_timestamp(parse_timestamp(raw))
    if path is not None:
        started = time_from_filename(path.rsplit("/", 1)[-1])
        if started is not None:
            return format_timestamp(started)
    return None


def _summary(row: tuple[Any, ...]) -> RecordSummary:
    (run_id, runbook, target, status, outcome_status, started, duration, operator, trigger, path,
     html, summary, incident) = row  # fmt: skip
    return RecordSummary(
        run_id=run_id,
        runbook=runbook,
        target=target,
        status=status,
        outcome_status=outcome_status,
        started_at=parse_timestamp(started),
        duration_s=duration,
        operator=operator,
        trigger=trigger,
        path=path,
        html=html,
        summary=summary,
        incident=incident,
    )


_DURATION_RE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SINCE_FORMS = "a duration (30m, 12h, 7d, 2w) or an ISO date/time (2026-11-01, 2026-11-01T08:00Z)"


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """The instant ``--since`` names: ``<n>m|h|d|w`` before ``now`` or an ISO date/time (UTC).

    A date alone means midnight UTC; a time without an offset is taken as UTC. Raises
    ``ParameterError`` naming ``--since`` and the accepted forms on anything else.
    """
    match = _DURATION_RE.match(text)
    if match is not None:
        reference = now if now is not None else datetime.now(UTC)
        if reference.tzinfo is None:
            reference = reference.replace(tzinfo=UTC)
        try:
            delta = timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})
            return reference.astimezone(UTC) - delta
        except OverflowError:
            pass  # reported below like any other unusable value
    try:
        return parse_timestamp(text)
    except ValueError:
        raise ParameterError(
            f"--since {text!r} is not understood; use {_SINCE_FORMS}",
            name="--since",
            accepted=_SINCE_FORMS,
        ) from None
