"""What a credential touched, for the breach notice: read-only queries, rows as frozen data.

- a database role: its attributes and memberships, its sessions now (PostgreSQL keeps no record of
  ended sessions: ``log_connections`` in the server log has those), and the tables it may read or
  change in the target's database;
- NOA API keys: the keys (``last_used_at``, ``revoked_at``…), their organization, and the
  requests they made in the ``since`` window (count, endpoints, first and last seen).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from noa_lib.clients import postgres
from noa_lib.clients.postgres import Connection
from noa_lib.errors import ParameterError
from noa_lib.ops.credentials.parse import ACCEPTED, Credential

_ROLE_SQL = """
SELECT r.rolname AS role, r.rolsuper AS superuser, r.rolcanlogin AS can_login,
       r.rolcreaterole AS createrole, r.rolcreatedb AS createdb,
       r.rolreplication AS replication, r.rolbypassrls AS bypassrls,
       r.rolvaliduntil AS valid_until, r.rolname = current_user AS own_role,
       ARRAY(SELECT b.rolname::text FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid
             WHERE m.member = r.oid ORDER BY 1) AS member_of
FROM pg_roles r WHERE r.rolname = %s
"""
_SESSIONS_SQL = """
SELECT pid, datname AS database, application_name AS application,
       host(client_addr) AS client_addr, state, backend_start, query_start
FROM pg_stat_activity WHERE usename = %s AND backend_type = 'client backend'
ORDER BY backend_start
"""
_GRANTS_SQL = """
SELECT object, array_to_string(array_remove(ARRAY[
         CASE WHEN has_table_privilege(r.oid, c.oid, 'SELECT') THEN 'SELECT' END,
         CASE WHEN has_table_privilege(r.oid, c.oid, 'INSERT') THEN 'INSERT' END,
         CASE WHEN has_table_privilege(r.oid, c.oid, 'UPDATE') THEN 'UPDATE' END,
         CASE WHEN has_table_privilege(r.oid, c.oid, 'DELETE') THEN 'DELETE' END,
         CASE WHEN has_table_privilege(r.oid, c.oid, 'TRUNCATE') THEN 'TRUNCATE' END], NULL),
         ', ') AS privileges
FROM pg_roles r, pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
     LATERAL (SELECT n.nspname || '.' || c.relname AS object) o
WHERE r.rolname = %s AND c.relkind IN ('r', 'p', 'v', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
ORDER BY object
"""
_ORG_SQL = "SELECT id, slug, name, plan, region FROM organizations WHERE id = %s"
_KEYS_SQL = """
SELECT id, name, prefix, array_to_string(scopes, ',') AS scopes, created_at, last_used_at,
       expires_at, revoked_at
FROM api_keys
WHERE org_id = %(org)s AND (id = ANY(%(ids)s) OR (%(prefix)s <> '' AND prefix LIKE %(like)s)
                            OR (cardinality(%(ids)s) = 0 AND %(prefix)s = ''))
ORDER BY id
"""
_REQUESTS_SQL = """
SELECT api_key_id AS key_id, count(*) AS requests, min(created_at) AS first_seen,
       max(created_at) AS last_seen, count(*) FILTER (WHERE status >= 500) AS errors_5xx,
       count(*) FILTER (WHERE status BETWEEN 400 AND 499) AS errors_4xx
FROM request_log
WHERE org_id = %(org)s AND api_key_id = ANY(%(ids)s)
  AND created_at >= now() - make_interval(secs => %(secs)s)
GROUP BY api_key_id ORDER BY api_key_id
"""
_ENDPOINTS_SQL = """
SELECT method, endpoint, count(*) AS requests, min(created_at) AS first_seen,
       max(created_at) AS last_seen
FROM request_log
WHERE org_id = %(org)s AND api_key_id = ANY(%(ids)s)
  AND created_at >= now() - make_interval(secs => %(secs)s)
GROUP BY method, endpoint ORDER BY requests DESC, endpoint LIMIT 25
"""


@dataclass(frozen=True)
class RoleReport:
    """What a database role is and touched: ``role`` (attributes, memberships), its current
    ``sessions`` and the ``grants`` it holds in the database (one row per table)."""

    role: dict[str, Any]
    sessions: tuple[dict[str, Any], ...]
    grants: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class ApiKeyReport:
    """The API keys a credential names, their organization and their requests since ``since``."""

    organization: dict[str, Any]
    keys: tuple[dict[str, Any], ...]
    requests: tuple[dict[str, Any], ...]
    endpoints: tuple[dict[str, Any], ...]
    since_s: float

    @property
    def active_ids(self) -> tuple[int, ...]:
        return tuple(int(k["id"]) for k in self.keys if k["revoked_at"] is None)

    @property
    def used(self) -> bool:
        """Whether any of the keys was ever used (``last_used_at``) or made a request since."""
        return bool(self.requests) or any(k["last_used_at"] is not None for k in self.keys)


def _bad(credential: Credential, problem: str) -> ParameterError:
    return ParameterError(f"credential={credential.describe()!r}: {problem}",
                          name="credential", accepted=ACCEPTED)


def role_report(conn: Connection, credential: Credential) -> RoleReport:
    """The :class:`RoleReport` of ``credential``'s role.

    Raises:
        ParameterError: no such role.
        ClientError: a query failed.
    """
    rows = postgres.query(conn, _ROLE_SQL, (credential.name,))
    if not rows:
        raise _bad(credential, f"the database has no role {credential.name!r}")
    grants = [dict(r) for r in postgres.query(conn, _GRANTS_SQL, (credential.name,))
              if r["privileges"]]
    sessions = postgres.query(conn, _SESSIONS_SQL, (credential.name,))
    return RoleReport(dict(rows[0]), tuple(dict(s) for s in sessions), tuple(grants))


def api_key_report(conn: Connection, credential: Credential, since_s: float) -> ApiKeyReport:
    """The :class:`ApiKeyReport` of ``credential``'s keys over the last ``since_s`` seconds.

    Raises:
        ParameterError: no such organization, a key id that is not one of its keys, or no key
            matches.
        ClientError: a query failed.
    """
    org = postgres.query(conn, _ORG_SQL, (credential.org_id,))
    if not org:
        raise _bad(credential, f"there is no organization {credential.org_id}")
    params: dict[str, Any] = {"org": credential.org_id, "ids": list(credential.key_ids),
                              "prefix": credential.prefix,
                              "like": credential.prefix.replace("_", r"\_") + "%"}
    keys = [dict(k) for k in postgres.query(conn, _KEYS_SQL, params)]
    missing = sorted(set(credential.key_ids) - {int(k["id"]) for k in keys})
    if missing:
        raise _bad(credential, f"key id(s) {missing} are not keys of organization "
                               f"{credential.org_id}")
    if not keys:
        raise _bad(credential, f"no key of organization {credential.org_id} has the prefix "
                               f"{credential.prefix!r}")
    window = {"org": credential.org_id, "ids": [int(k["id"]) for k in keys], "secs": since_s}
    requests = postgres.query(conn, _REQUESTS_SQL, window)
    endpoints = postgres.query(conn, _ENDPOINTS_SQL, window) if requests else []
    return ApiKeyReport(dict(org[0]), tuple(keys), tuple(dict(r) for r in requests),
                        tuple(dict(e) for e in endpoints), since_s)


__all__ = ["ApiKeyReport", "RoleReport", "api_key_report", "role_report"]
