"""The restore drill's scratch resources: a private download area and a fresh scratch database.

* **Scratch area** — ``scratch_dir``, else ``$NOA_SCRATCH_DIR``, else the system temp dir. Before a
  download the free space is checked against the dump's size; the file is then pre-allocated
  (``posix_fallocate``) so a disk that fills meanwhile fails at once, not halfway; it lives in a
  private 0700 directory removed when the drill ends, whatever happened.
* **Scratch database** — ``noa_drill_<run id>`` (or a given name), created with ``CREATE
  DATABASE … TEMPLATE template0``. If the name is taken the drill refuses (:class:`Conflict`):
  it never drops a database it did not create. The one it created is dropped ``WITH (FORCE)``
  when the drill ends.
* **Table of contents** — entries the restoring role cannot replay (``CREATE EXTENSION`` of an
  untrusted extension without superuser) are left out through ``pg_restore --use-list`` and
  reported, instead of failing the whole restore.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from noa_lib.clients.pgdump import PgTools, list_archive
from noa_lib.clients.postgres import Connection, connect, query, sql
from noa_lib.clients.s3_objects import Bucket
from noa_lib.clients.s3_stream import DownloadResult, download
from noa_lib.config import PostgresSettings
from noa_lib.errors import Conflict, NoaError, ParameterError, PreconditionFailed

SCRATCH_ENV = "NOA_SCRATCH_DIR"
SCRATCH_PREFIX = "noa_drill_"
SCRATCH_DB_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
MiB = 1 << 20
# pg_restore --list names an extension plainly ("EXTENSION - uuid-ossp") but quotes it where SQL
# would in the comment's tag ('COMMENT - EXTENSION "uuid-ossp"')
_EXTENSION_RE = re.compile(
    r'^\d+; \d+ \d+ (?:EXTENSION - |COMMENT - EXTENSION )("(?:[^"]|"")+"|\S+)'
)


def scratch_root(scratch_dir: str | Path | None = None) -> Path:
    """The directory the drill downloads into.

    Raises:
        PreconditionFailed: it does not exist or is not a directory.
    """
    root = Path(scratch_dir or os.environ.get(SCRATCH_ENV) or tempfile.gettempdir()).expanduser()
    if not root.is_dir():
        raise PreconditionFailed(
            f"scratch directory {root} does not exist; create it or set scratch_dir / "
            f"{SCRATCH_ENV} to a directory on a disk with room for the dump"
        )
    return root


def space_needed(size_bytes: int) -> int:
    """Bytes of free space the drill wants for a dump of ``size_bytes`` (5 % + 1 MiB spare)."""
    return int(size_bytes * 1.05) + MiB


def check_space(root: Path, size_bytes: int) -> int:
    """Free bytes in ``root``; enough for a dump of ``size_bytes``.

    Raises:
        PreconditionFailed: not enough free space (the message gives both figures).
    """
    free = shutil.disk_usage(root).free
    need = space_needed(size_bytes)
    if free < need:
        raise PreconditionFailed(
            f"scratch area {root} has {free / MiB:.1f} MiB free but the dump needs "
            f"{need / MiB:.1f} MiB; set scratch_dir (or {SCRATCH_ENV}) to a larger disk"
        )
    return free


@contextlib.contextmanager
def private_dir(root: Path) -> Iterator[Path]:
    """A 0700 directory under ``root``, removed with everything in it when the block ends."""
    path = Path(tempfile.mkdtemp(prefix="noa-drill-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def fetch_dump(bucket: Bucket, key: str, size_bytes: int, dest: Path) -> DownloadResult:
    """Download ``key`` into the new file ``dest`` (pre-allocated to ``size_bytes``), hashing it.

    Returns:
        The :class:`DownloadResult` (compare its size and SHA-256 with the manifest).

    Raises:
        PreconditionFailed: the scratch area ran out of space (the partial file is removed).
        NotFound / Unavailable / Timeout / ClientError: the store failed.
    """
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            if size_bytes > 0 and hasattr(os, "posix_fallocate"):
                os.posix_fallocate(handle.fileno(), 0, size_bytes)
            result = download(bucket, key, handle)
            handle.truncate(result.size_bytes)
        return result
    except OSError as exc:
        with contextlib.suppress(OSError):
            dest.unlink()
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise PreconditionFailed(
                f"scratch area {dest.parent.parent} ran out of space while downloading "
                f"{size_bytes / MiB:.1f} MiB ({os.strerror(exc.errno)}); the partial file was "
                f"removed; set scratch_dir (or {SCRATCH_ENV}) to a larger disk"
            ) from None
        raise PreconditionFailed(
            f"cannot write the download to {dest.parent}: {exc.strerror or exc}"
        ) from None


def new_scratch_name() -> str:
    """``noa_drill_<8 hex digits>``: a fresh scratch database name."""
    return f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:8]}"


def check_scratch_name(name: str, source: str) -> str:
    """``name`` if usable as a scratch database.

    Raises:
        ParameterError: not lowercase letters/digits/underscore, or the source database itself.
    """
    if not SCRATCH_DB_RE.match(name) or name in (source, "postgres", "template0", "template1"):
        raise ParameterError(
            f"scratch_database {name!r} is not valid: lowercase letters, digits and '_' "
            f"(max 63), not the source database or a system database",
            name="scratch_database",
            accepted="e.g. noa_drill_manual",
        )
    return name


@dataclass
class ScratchDatabase:
    """A scratch database the drill created; ``dropped``/``drop_error`` are set at the end."""

    name: str
    created: bool = False
    dropped: bool = False
    drop_error: str | None = None
    notes: list[str] = field(default_factory=list)


@contextlib.contextmanager
def scratch_database(
    settings: PostgresSettings, admin_db: str, name: str
) -> Iterator[ScratchDatabase]:
    """Create ``name`` fresh for the block and drop it afterwards (only if we created it).

    Raises:
        Conflict: a database called ``name`` already exists (it is left alone).
        Unavailable / Timeout / ClientError: the server failed.
    """
    scratch = ScratchDatabase(name)
    where = f"{settings.host}:{settings.port}"
    with connect(settings, dbname=admin_db, statement_timeout_ms=120_000) as conn:
        if _exists(conn, name):
            raise Conflict(
                f"scratch database {name} already exists on {where}; the drill never drops a "
                "database it did not create: drop it yourself if it is a leftover of an earlier "
                "drill, or pass another scratch_database",
                backend="PostgreSQL",
            )
        try:
            query(
                conn,
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)),
            )
        except Conflict:
            raise Conflict(
                f"scratch database {name} was created by someone else on {where} meanwhile; "
                "the drill leaves it alone",
                backend="PostgreSQL",
            ) from None
        scratch.created = True
    try:
        yield scratch
    finally:
        _drop(settings, admin_db, scratch)


def _exists(conn: Connection, name: str) -> bool:
    return bool(query(conn, "SELECT 1 FROM pg_database WHERE datname = %s", (name,)))


def _drop(settings: PostgresSettings, admin_db: str, scratch: ScratchDatabase) -> None:
    try:
        with connect(settings, dbname=admin_db, statement_timeout_ms=300_000) as conn:
            version = query(conn, "SELECT current_setting('server_version_num')::int AS v")
            major = int(version[0]["v"])
            statement = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(scratch.name))
            if major >= 130000:
                statement = sql.SQL("{} WITH (FORCE)").format(statement)
            query(conn, statement)
            scratch.dropped = not _exists(conn, scratch.name)
    except NoaError as exc:
        scratch.drop_error = str(exc)


def restorable_list(
    tools: PgTools, archive: Path, conn: Connection, workdir: Path
) -> tuple[Path | None, list[str]]:
    """A ``--use-list`` file without the extensions this role cannot create, and their names.

    Returns:
        ``(None, [])`` when everything can be restored as is.

    Raises:
        ClientError: the archive's table of contents cannot be read.
    """
    lines = list_archive(tools, archive)
    wanted = {name for line in lines if (name := _extension(line)) is not None}
    if not wanted:
        return None, []
    superuser = bool(
        query(conn, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[0]["rolsuper"]
    )
    rows = query(
        conn,
        "SELECT name, bool_or(trusted) AS trusted FROM pg_available_extension_versions "
        "WHERE name = ANY(%s) GROUP BY name",
        (sorted(wanted),),
    )
    available = {str(r["name"]): bool(r["trusted"]) for r in rows}
    skipped = sorted(
        name for name in wanted if name not in available or not (superuser or available[name])
    )
    if not skipped:
        return None, []
    kept = [
        line
        for line in lines
        if _extension(line) not in skipped
    ]
    path = workdir / "restore.list"
    path.write_text("\n".join(kept) + "\n")
    return path, skipped


def _extension(line: str) -> str | None:
    """The extension a ``pg_restore --list`` line creates or comments on, unquoted."""
    match = _EXTENSION_RE.match(line)
    if match is None:
        return None
    name = match.group(1)
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


__all__ = [
    "SCRATCH_ENV",
    "ScratchDatabase",
    "check_scratch_name",
    "check_space",
    "fetch_dump",
    "new_scratch_name",
    "private_dir",
    "restorable_list",
    "scratch_database",
    "scratch_root",
    "space_needed",
]
