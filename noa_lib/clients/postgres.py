"""PostgreSQL client: connections with timeouts, queries returning dicts, errors mapped to ours.

The only module that imports ``psycopg``. Connections are autocommit, tagged
``application_name='noa-runbooks'``, carry a ``statement_timeout`` (and optionally
``default_transaction_read_only``) and return rows as dicts. Compose SQL identifiers with
:mod:`psycopg.sql` (re-exported as :data:`sql`), never with string formatting.

Error mapping (:func:`mapped_errors`)::

    connection refused / DNS / server gone     -> Unavailable
    connect_timeout / statement_timeout        -> Timeout
    database, table, column does not exist     -> NotFound
    unique violation, serialization, deadlock  -> Conflict
    authentication and everything else         -> ClientError
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.abc import Params, QueryNoTemplate
from psycopg.rows import DictRow, dict_row

from noa_lib.clients._errors import failure, safe
from noa_lib.config import PostgresSettings
from noa_lib.errors import ClientError, Conflict, NoaError, NotFound, Timeout, Unavailable

BACKEND = "PostgreSQL"
APPLICATION_NAME = "noa-runbooks"

Connection = psycopg.Connection[DictRow]

_NOT_FOUND = (
    pg_errors.InvalidCatalogName,
    pg_errors.UndefinedTable,
    pg_errors.UndefinedColumn,
    pg_errors.UndefinedObject,
    pg_errors.UndefinedFunction,
    pg_errors.InvalidSchemaName,
)
_CONFLICT = (
    pg_errors.UniqueViolation,
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
    pg_errors.LockNotAvailable,
    pg_errors.DuplicateDatabase,
    pg_errors.DuplicateObject,
    pg_errors.DuplicateTable,
    pg_errors.ObjectInUse,
)


@dataclass(frozen=True)
class PostgresProbe:
    """What :func:`probe` learnt about a server."""

    endpoint: str
    database: str
    version: str
    server_version_num: int
    in_recovery: bool
    connect_ms: float
    latency_ms: float


def endpoint(settings: PostgresSettings) -> str:
    """``host:port`` of the server (no user, no password)."""
    return f"{settings.host}:{settings.port}"


def connect(
    settings: PostgresSettings,
    *,
    dbname: str | None = None,
    read_only: bool = False,
    statement_timeout_ms: int | None = None,
) -> Connection:
    """Open an autocommit connection whose rows are dicts; use it as a context manager.

    ``dbname`` overrides the configured database; ``read_only`` makes every transaction of the
    session read-only; ``statement_timeout_ms`` overrides the configured statement timeout.
    The password is resolved from its reference here and nowhere else.

    Returns:
        A ``psycopg.Connection`` (closed when its ``with`` block ends).

    Raises:
        ConfigError: the password reference cannot be resolved.
        Unavailable: refused, unknown host, server shutting down or out of connections.
        Timeout: no answer within ``connect_timeout``.
        NotFound: the database does not exist.
        ClientError: authentication failed or another connection error.
    """
    password = settings.password.resolve() if settings.password is not None else None
    secrets = [password] if password else []
    where = endpoint(settings)
    timeout_s = max(1, math.ceil(settings.connect_timeout))
    kwargs: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "dbname": dbname or settings.dbname,
        "user": settings.user,
        "sslmode": settings.sslmode,
        "connect_timeout": timeout_s,
        "application_name": APPLICATION_NAME,
    }
    if password is not None:
        kwargs["password"] = password
    try:
        conn = psycopg.connect(autocommit=True, row_factory=dict_row, **kwargs)
    except psycopg.Error as exc:
        raise _connect_failure(exc, where, timeout_s, secrets) from None
    timeout_ms = (
        settings.statement_timeout_ms if statement_timeout_ms is None else statement_timeout_ms
    )
    try:
        with mapped_errors(settings, conn=conn):
            conn.execute(
                "SELECT set_config('statement_timeout', %s, false),"
                " set_config('default_transaction_read_only', %s, false)",
                (str(int(timeout_ms)), "on" if read_only else "off"),
            )
    except ClientError:
        conn.close()
        raise
    return conn


def query(
    conn: Connection, statement: QueryNoTemplate, params: Params | None = None
) -> list[DictRow]:
    """Run ``statement`` with ``params`` and return its rows as dicts (``[]`` when none).

    Raises:
        Timeout: the statement hit ``statement_timeout``.
        NotFound / Conflict / Unavailable / ClientError: see the module docstring.
    """
    with mapped_errors(conn=conn):
        cur = conn.execute(statement, params)
        if cur.description is None:
            return []
        return cur.fetchall()


def probe(settings: PostgresSettings) -> PostgresProbe:
    """Connect, ask the server its version and recovery state, and time both.

    Returns:
        A :class:`PostgresProbe`; ``latency_ms`` is one query round trip on the open connection.

    Raises:
        ConfigError, Unavailable, Timeout, NotFound, ClientError: as :func:`connect`.
    """
    started = time.perf_counter()
    with connect(settings, read_only=True) as conn:
        connected = time.perf_counter()
        rows = query(
            conn,
            "SELECT current_setting('server_version') AS version,"
            " current_setting('server_version_num')::int AS num,"
            " pg_is_in_recovery() AS in_recovery, current_database() AS database",
        )
        done = time.perf_counter()
    row = rows[0]
    return PostgresProbe(
        endpoint=endpoint(settings),
        database=str(row["database"]),
        version=str(row["version"]),
        server_version_num=int(row["num"]),
        in_recovery=bool(row["in_recovery"]),
        connect_ms=round((connected - started) * 1000, 2),
        latency_ms=round((done - connected) * 1000, 2),
    )


def password_verifier(conn: Connection, role: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier of ``password`` for ``role``, computed client-side (libpq's
    ``PQencryptPasswordConn``), so ``ALTER ROLE … PASSWORD`` never carries the plaintext into a
    statement log.

    Raises:
        ClientError: libpq could not compute it.
    """
    with mapped_errors(conn=conn):
        return conn.pgconn.encrypt_password(
            password.encode(), role.encode(), b"scram-sha-256"
        ).decode()


def authenticates(settings: PostgresSettings, *, user: str, password: str) -> bool:
    """Whether ``user`` with ``password`` can log in to the configured database.

    Returns:
        True after a successful login (closed at once), False when the server refused the
        password (or the role may not log in).
    Raises:
        Unavailable / Timeout / NotFound: the server itself could not be asked (the message never
            holds the password).
    """
    kwargs: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "dbname": settings.dbname, "user": user,
        "password": password, "sslmode": settings.sslmode,
        "connect_timeout": max(1, math.ceil(settings.connect_timeout)),
        "application_name": APPLICATION_NAME,
    }
    try:
        psycopg.connect(**kwargs).close()
    except psycopg.Error as exc:
        text = str(exc).lower()
        if "authentication failed" in text or "not permitted to log in" in text:
            return False
        raise _connect_failure(exc, endpoint(settings), kwargs["connect_timeout"],
                               [password]) from None
    return True


@contextmanager
def mapped_errors(
    settings: PostgresSettings | None = None, *, conn: Connection | None = None
) -> Iterator[None]:
    """Map any ``psycopg.Error`` raised in the block to our error tree (scrubbed, short).

    Give ``settings`` or an open ``conn`` so the message can name the server and scrub its
    password.
    """
    try:
        yield
    except psycopg.Error as exc:
        where, secrets = _describe(settings, conn)
        raise _query_failure(exc, where, secrets) from None


def _describe(settings: PostgresSettings | None, conn: Connection | None) -> tuple[str, list[str]]:
    secrets: list[str] = []
    where = "(unknown server)"
    if conn is not None:
        try:
            info = conn.info
            where = f"{info.host}:{info.port}"
            if info.password:
                secrets.append(info.password)
        except psycopg.Error:
            pass
    if settings is not None:
        where = endpoint(settings) if where == "(unknown server)" else where
        if settings.password is not None:
            try:
                secrets.append(settings.password.resolve())
            except NoaError:  # an unresolvable secret cannot leak; keep mapping
                pass
    return where, secrets


def _primary(exc: psycopg.Error) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return str(primary or exc)


def _connect_failure(
    exc: psycopg.Error, where: str, timeout_s: int, secrets: list[str]
) -> ClientError:
    text = str(exc)
    lower = text.lower()
    if isinstance(exc, pg_errors.ConnectionTimeout) or "timeout expired" in lower:
        return failure(Timeout, BACKEND, where, f"did not answer within {timeout_s} s", secrets)
    if "connection refused" in lower:
        return failure(Unavailable, BACKEND, where, "unreachable: connection refused", secrets)
    if "resolve host" in lower or "translate host name" in lower:
        return failure(Unavailable, BACKEND, where, "unreachable: unknown host", secrets)
    if "authentication failed" in lower or "no pg_hba.conf entry" in lower:
        reason = "refused the login: authentication failed for the configured user"
        return failure(ClientError, BACKEND, where, reason, secrets)
    if "does not exist" in lower and "database" in lower:
        detail = text.rsplit("FATAL:", 1)[-1].strip()
        return failure(NotFound, BACKEND, where, f"has no such database: {detail}", secrets)
    # strip libpq's "connection failed: connection to server at ... failed:" preamble
    detail = text.rsplit("failed:", 1)[-1].strip() or text
    detail = detail.split("\n", 1)[0].replace("FATAL:", "").strip()
    return failure(Unavailable, BACKEND, where, f"unreachable: {detail}", secrets)


def _query_failure(exc: psycopg.Error, where: str, secrets: list[str]) -> ClientError:
    detail = safe(_primary(exc), secrets)
    state = f" [{exc.sqlstate}]" if exc.sqlstate else ""
    if isinstance(exc, pg_errors.QueryCanceled):
        return failure(
            Timeout, BACKEND, where, f"cancelled the statement: {detail}{state}", secrets
        )
    if isinstance(exc, _NOT_FOUND):
        return failure(NotFound, BACKEND, where, f"reports: {detail}{state}", secrets)
    if isinstance(exc, _CONFLICT):
        return failure(Conflict, BACKEND, where, f"reports a conflict: {detail}{state}", secrets)
    if isinstance(exc, pg_errors.OperationalError | pg_errors.InterfaceError):
        return failure(Unavailable, BACKEND, where, f"unavailable: {detail}{state}", secrets)
    return failure(ClientError, BACKEND, where, f"failed: {detail}{state}", secrets)


__all__ = [
    "APPLICATION_NAME",
    "BACKEND",
    "Connection",
    "PostgresProbe",
    "authenticates",
    "connect",
    "endpoint",
    "mapped_errors",
    "password_verifier",
    "probe",
    "query",
    "sql",
]
