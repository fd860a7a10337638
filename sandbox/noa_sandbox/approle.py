"""NOA Server's own database role in the sandbox: ``noa_app``, whose password is the Secret's.

The Deployments read ``DATABASE_PASSWORD`` from the Secret ``noa-db-credentials`` (keys
``username`` and ``password``, see :mod:`noa_sandbox.kube.seed`); :func:`ensure_app_role` makes
that credential real: it creates the login role named by ``username`` with the Secret's password
the first time (later ``up``\\ s keep the role and its password as they are, so a rotation done by a
runbook stays rotated), with the table privileges an application needs on database ``noa``.
It also lets the runbooks' role ``noa_ops`` rotate it (``CREATEROLE``; on PostgreSQL 16 and later
also ``ADMIN OPTION`` on the role, which CREATEROLE alone no longer implies).

The password travels to the server as a SCRAM verifier computed client-side; it never appears in a
statement, a log line or an error.
"""

from __future__ import annotations

import base64

from noa_lib.errors import Unavailable
from noa_sandbox import postgres
from noa_sandbox.seed import DATABASE, OPS_ROLE

SECRET = "noa-db-credentials"  # noqa: S105 - a Secret's name, not a value
APP_ROLE = "noa_app"
APP_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


def decode_credentials(secret: dict[str, object]) -> tuple[str, str]:
    """``(username, password)`` from a Secret object's base64 ``data``.

    Raises:
        Unavailable: the Secret has no ``username``/``password`` keys.
    """
    data = secret.get("data")
    if not isinstance(data, dict) or "password" not in data:
        raise Unavailable(f"the Secret {SECRET} holds no password", backend="kubernetes")
    user = base64.b64decode(str(data.get("username") or "")).decode() or APP_ROLE
    return user, base64.b64decode(str(data["password"])).decode()


def ensure_app_role(port: int, *, superuser_password: str, role: str, password: str) -> bool:
    """Create ``role`` (LOGIN, no special attributes) with ``password`` unless it exists, grant it
    the application's privileges in database ``noa``, and let ``noa_ops`` manage it.

    Returns:
        True when the role was created now, False when it existed (its password is kept).
    Raises:
        Unavailable: PostgreSQL cannot be reached or a statement failed.
    """
    import psycopg  # not at module import: keeps `import noa_sandbox` light

    try:
        return _ensure(port, superuser_password, role, password)
    except psycopg.Error as exc:
        message = str(exc).replace(password, "***").replace(superuser_password, "***")
        raise Unavailable(f"creating the role {role} failed: {message}", backend="postgres"
                          ) from None


def _ensure(port: int, superuser_password: str, role: str, password: str) -> bool:
    from psycopg import sql

    ident = sql.Identifier(role)
    with postgres.connect(
        port, user=postgres.SUPERUSER, password=superuser_password, dbname="postgres"
    ) as su:
        exists = su.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if not exists:
            verifier = su.pgconn.encrypt_password(
                password.encode(), role.encode(), b"scram-sha-256"
            ).decode()
            su.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                    "PASSWORD {}"
                ).format(ident, sql.Literal(verifier))
            )
        su.execute(sql.SQL("ALTER ROLE {} CREATEROLE").format(sql.Identifier(OPS_ROLE)))
        if su.info.server_version >= 160000:
            su.execute(sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(
                ident, sql.Identifier(OPS_ROLE)))
        su.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            sql.Identifier(DATABASE), ident))
    with postgres.connect(
        port, user=postgres.SUPERUSER, password=superuser_password, dbname=DATABASE
    ) as su_noa:
        su_noa.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
        su_noa.execute(sql.SQL("GRANT " + APP_PRIVILEGES + " ON ALL TABLES IN SCHEMA public TO {}")
                       .format(ident))
        su_noa.execute(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {}")
                       .format(ident))
    return not exists


__all__ = ["APP_ROLE", "SECRET", "decode_credentials", "ensure_app_role"]
