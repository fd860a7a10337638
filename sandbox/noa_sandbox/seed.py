"""The NOA database inside the sandbox: the ``noa_ops`` role, database ``noa``, schema and data.

``schema.sql`` (tables), ``data.sql`` (generated rows) and ``indexes.sql`` (keys and indexes,
built after loading) are package data beside this module, run as ``noa_ops`` in one transaction
so it owns every object. The role's password is sent as a SCRAM verifier computed client-side, so
even a logged statement never shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

from noa_lib.errors import Unavailable
from noa_sandbox import postgres
from noa_sandbox.credentials import Credentials, scrub

OPS_ROLE = "noa_ops"
DATABASE = "noa"
TABLES = (
    "organizations",
    "users",
    "api_keys",
    "sessions",
    "request_log",
    "jobs",
    "ai_provider_calls",
    "invoices",
    "schema_migrations",
)
APPROX_ROWS = "~510k"
# Functions runbooks need that PostgreSQL reserves for superusers unless granted.
_GRANTED_FUNCTIONS = ("pg_switch_wal()", "pg_create_restore_point(text)", "pg_reload_conf()")
_GRANTED_ROLES = ("pg_monitor", "pg_signal_backend", "pg_checkpoint")
# The ops role may manage WAL archiving (backup/wal_archiving sets it up with ALTER SYSTEM).
_ALTERABLE_SETTINGS = ("wal_level", "archive_mode", "archive_command", "archive_timeout")


def sql_text(name: str) -> str:
    """The text of a packaged SQL file (``schema.sql``, ``data.sql`` or ``indexes.sql``)."""
    return resources.files("noa_sandbox").joinpath(name).read_text(encoding="utf-8")


def seed(
    port: int, creds: Credentials, *, progress: Callable[[str], None], with_data: bool = True
) -> int:
    """Create role, database, schema and data on a fresh cluster; return the number of rows.

    Safe to re-run after an interrupted attempt: the database is dropped and re-created.
    ``with_data=False`` only makes sure the role and an (empty) database exist, keeping an
    existing database as it is, and returns 0.

    Raises:
        Unavailable: the server cannot be reached or a statement failed.
    """
    import psycopg  # not at module import: keeps `import noa_sandbox` light

    try:
        return _seed(port, creds, progress, with_data)
    except psycopg.Error as exc:
        message = scrub(str(exc), creds.values())
        raise Unavailable(
            f"loading the NOA database failed: {message}", backend="postgres"
        ) from None


def _seed(
    port: int, creds: Credentials, progress: Callable[[str], None], with_data: bool = True
) -> int:
    from psycopg import sql

    with postgres.connect(
        port, user=postgres.SUPERUSER, password=creds.pg_superuser_password, dbname="postgres"
    ) as su:
        verifier = su.pgconn.encrypt_password(
            creds.pg_password.encode(), OPS_ROLE.encode(), b"scram-sha-256"
        ).decode()
        exists = su.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (OPS_ROLE,)).fetchone()
        verb = sql.SQL("ALTER" if exists else "CREATE")
        su.execute(
            sql.SQL("{} ROLE {} LOGIN CREATEDB REPLICATION PASSWORD {}").format(
                verb, sql.Identifier(OPS_ROLE), sql.Literal(verifier)
            )
        )
        for role in _GRANTED_ROLES:
            if su.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                su.execute(
                    sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), sql.Identifier(OPS_ROLE))
                )
        su.execute(
            sql.SQL("GRANT ALTER SYSTEM ON PARAMETER {} TO {}").format(
                sql.SQL(", ").join(sql.Identifier(s) for s in _ALTERABLE_SETTINGS),
                sql.Identifier(OPS_ROLE),
            )
        )
        present = su.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        keep = not with_data and present.fetchone() is not None
        if not keep:
            su.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
            )
            su.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(DATABASE), sql.Identifier(OPS_ROLE)
                )
            )
        preload = su.execute("SHOW shared_preload_libraries").fetchone()
    stat_statements = preload is not None and "pg_stat_statements" in str(preload[0])

    with postgres.connect(
        port, user=postgres.SUPERUSER, password=creds.pg_superuser_password, dbname=DATABASE
    ) as su_noa:
        # Function privileges are per database: grant them inside `noa`.
        for function in _GRANTED_FUNCTIONS:
            su_noa.execute(
                sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(
                    sql.SQL(function), sql.Identifier(OPS_ROLE)
                )
            )
        if stat_statements:
            su_noa.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    if not with_data:
        return 0
    progress(f"loading NOA schema and data ({APPROX_ROWS} rows)…")
    with postgres.connect(
        port, user=OPS_ROLE, password=creds.pg_password, dbname=DATABASE, autocommit=False
    ) as ops:
        ops.execute("SET LOCAL work_mem = '64MB'")
        ops.execute("SET LOCAL maintenance_work_mem = '256MB'")
        # Several statements per call: allowed without parameters (simple query protocol).
        for name in ("schema.sql", "data.sql", "indexes.sql"):
            ops.execute(sql_text(name).encode())
        ops.commit()
        ops.autocommit = True
        ops.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(map(sql.Identifier, TABLES))))
        rows = 0
        for table in TABLES:
            count = ops.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()
            rows += int(str(count[0])) if count else 0

    if stat_statements:
        with postgres.connect(
            port, user=postgres.SUPERUSER, password=creds.pg_superuser_password, dbname=DATABASE
        ) as su_noa:
            su_noa.execute("SELECT pg_stat_statements_reset()")
    return rows
