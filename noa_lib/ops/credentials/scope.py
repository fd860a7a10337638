"""The credentials in scope of ``incident/security_breach`` (a run without ``credential``): the
database's login roles, the namespace's Secrets and the API keys in use, each with the
``credential`` value that would rotate it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from noa_lib.clients import kube_apps, postgres
from noa_lib.config import Target
from noa_lib.errors import ConfigError
from noa_lib.ops.credentials.users import role_keys, secret_keys, secret_users
from noa_lib.ops.deploy.context import KubeContext
from noa_lib.ops.findings import Finding, Status

_ROLES_SQL = """
SELECT r.rolname AS role, r.rolsuper AS superuser, r.rolname = current_user AS own_role,
       (SELECT count(*) FROM pg_stat_activity a WHERE a.usename = r.rolname
          AND a.backend_type = 'client backend') AS sessions
FROM pg_roles r WHERE r.rolcanlogin ORDER BY r.rolname
"""
_KEYS_SQL = """
SELECT count(*) FILTER (WHERE revoked_at IS NULL) AS active,
       count(*) FILTER (WHERE revoked_at IS NULL
                          AND last_used_at >= now() - make_interval(secs => %s)) AS used,
       count(DISTINCT org_id) FILTER (WHERE revoked_at IS NULL) AS organizations
FROM api_keys
"""


@dataclass(frozen=True)
class CredentialScope:
    """Rows of roles, Secrets and the API-key summary; ``findings`` summarize them."""

    roles: tuple[dict[str, Any], ...]
    secrets: tuple[dict[str, Any], ...]
    api_keys: dict[str, Any]
    findings: tuple[Finding, ...]


def credential_scope(target: Target, kc: KubeContext, since_s: float) -> CredentialScope:
    """What could be rotated on ``target`` (read-only).

    Raises:
        ConfigError: the target has no ``[postgres]`` section.
        ClientError: PostgreSQL or Kubernetes could not be read.
    """
    if target.postgres is None:
        raise ConfigError(f"target {target.name!r} has no [postgres] section")
    with postgres.connect(target.postgres, read_only=True) as conn:
        roles = [dict(r) for r in postgres.query(conn, _ROLES_SQL)]
        keys = dict(postgres.query(conn, _KEYS_SQL, (since_s,))[0])
    deployments = kube_apps.list_objects(kc.settings, "deployments", kc.namespace)
    secrets = kube_apps.list_objects(kc.settings, "secrets", kc.namespace)
    for row in roles:
        held = [f"{k.secret}/{k.key}" for s in secrets for k in role_keys(s, row["role"])]
        refused = ("superuser" if row["superuser"] else
                   "this runbook's own role" if row["own_role"] else "")
        row.update(held_in=", ".join(held), rotate=f"postgres:{row['role']}",
                   refused=refused or ("no Secret holds it" if not held else ""))
    secret_rows = []
    for s in secrets:
        name = str(s["metadata"]["name"])
        users = secret_users(kc, name, deployments)
        secret_rows.append({"secret": name, "type": s.get("type", ""),
                            "keys": ", ".join(sorted(s.get("data") or {})),
                            "secret keys": ", ".join(secret_keys(s)),
                            "used by": ", ".join(u.deployment for u in users),
                            "rotate": f"secret:{name}"})
    rotatable = [r["role"] for r in roles if not r["refused"]]
    findings = (
        Finding("scope", Status.OK, f"{len(roles)} login role(s) ({len(rotatable)} rotatable "
                f"here: {', '.join(rotatable) or 'none'}), {len(secret_rows)} Secret(s) in "
                f"{kc.namespace}, {keys['active']} active API key(s) of "
                f"{keys['organizations']} organization(s), {keys['used']} used recently; "
                "set credential to rotate one", value=len(rotatable)),
    )
    return CredentialScope(tuple(roles), tuple(secret_rows), keys, findings)


__all__ = ["CredentialScope", "credential_scope"]
