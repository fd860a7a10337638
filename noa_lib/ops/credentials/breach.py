"""``incident/security_breach``'s steps: diagnose a credential (what it is, what uses it, what it
touched), then plan its rotation behind the guard rails.

:func:`diagnose_credential` reads only. :func:`plan_credential_mitigation` applies the refusals of
:mod:`.guards` and returns the :class:`~noa_lib.ops.mitigation.Mitigation` to run (an empty plan
when no credential was named: a diagnose-only run).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from noa_lib.clients import kube_apps, postgres
from noa_lib.config import PostgresSettings, Target
from noa_lib.errors import ConfigError, NotFound, ParameterError, UnsafeActionRefused
from noa_lib.ops.credentials import guards
from noa_lib.ops.credentials.api_keys import revoke_mitigation
from noa_lib.ops.credentials.parse import ACCEPTED, Credential, parse_credential
from noa_lib.ops.credentials.rotate import Rotation, rotation_mitigation
from noa_lib.ops.credentials.scope import CredentialScope, credential_scope
from noa_lib.ops.credentials.touched import ApiKeyReport, RoleReport, api_key_report, role_report
from noa_lib.ops.credentials.users import (
    SecretKey,
    SecretUser,
    decoded,
    held_roles,
    role_keys,
    secret_keys,
    secret_users,
)
from noa_lib.ops.deploy.context import KubeContext, kube_context
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.mitigation import Mitigation, Verdict
from noa_lib.ops.promql_render import parse_duration
from noa_lib.ops.safety import Plan


@dataclass(frozen=True)
class CredentialDiagnosis:
    """What :func:`diagnose_credential` found (no secret value anywhere in it)."""

    target: Target
    credential: Credential | None
    namespace: str
    findings: tuple[Finding, ...]
    role: RoleReport | None = None
    api_keys: ApiKeyReport | None = None
    keys: tuple[SecretKey, ...] = ()
    role_held: tuple[tuple[str, str], ...] = ()  # (key, role) of a Secret holding a role
    users: tuple[SecretUser, ...] = ()
    scope: CredentialScope | None = None

    def figures(self) -> dict[str, str | int]:
        """Outcome figures: the credential, its kind and how many users it has (Deployments and
        sessions; for API keys, the keys in use)."""
        c = self.credential
        users = len(self.users) + (len(self.role.sessions) if self.role else 0)
        if self.api_keys is not None:  # keys that made requests in the window or were ever used
            users = len({int(r["key_id"]) for r in self.api_keys.requests}
                        | {int(k["id"]) for k in self.api_keys.keys if k["last_used_at"]})
        return {"credential": c.describe() if c else "", "credential_kind": c.kind if c else "",
                "credential_users": users}


@dataclass(frozen=True)
class BreachPlan:
    """The mitigation to run and the guard rails' findings (the users it names)."""

    mitigation: Mitigation
    findings: tuple[Finding, ...]


def _since(since: str) -> float:
    try:
        return parse_duration(since)
    except ParameterError as exc:
        raise ParameterError(str(exc).replace("window", "since"), name="since",
                             accepted=exc.accepted) from None


def _pg(target: Target) -> PostgresSettings:
    if target.postgres is None:
        raise ConfigError(f"target {target.name!r} has no [postgres] section")
    return target.postgres


def diagnose_credential(target: Target, credential: str, *, since: str = "24h",
                        namespace: str = "") -> CredentialDiagnosis:
    """Read what ``credential`` is, what uses it and what it touched (``""``: the credentials in
    scope).

    Raises:
        ParameterError: ``credential`` or ``since`` malformed, or naming nothing that exists.
        ConfigError: the target lacks the section the credential needs.
        ClientError: PostgreSQL or Kubernetes could not be read.
    """
    parsed = parse_credential(credential)
    since_s = _since(since)
    if parsed is None:
        kc = kube_context(target, namespace)
        scope = credential_scope(target, kc, since_s)
        return CredentialDiagnosis(target, None, kc.namespace, scope.findings, scope=scope)
    if parsed.kind == "api_keys":
        with postgres.connect(_pg(target), read_only=True) as conn:
            report = api_key_report(conn, parsed, since_s)
        return CredentialDiagnosis(target, parsed, "", _key_findings(report), api_keys=report)
    kc = kube_context(target, namespace)
    if parsed.kind == "postgres":
        return _diagnose_role(target, kc, parsed)
    return _diagnose_secret(target, kc, parsed)


def _diagnose_role(target: Target, kc: KubeContext, c: Credential) -> CredentialDiagnosis:
    settings = _pg(target)
    with postgres.connect(settings, read_only=True) as conn:
        report = role_report(conn, c)
    keys: list[SecretKey] = []
    users: list[SecretUser] = []
    deployments = kube_apps.list_objects(kc.settings, "deployments", kc.namespace)
    for secret in kube_apps.list_objects(kc.settings, "secrets", kc.namespace):
        held = role_keys(secret, c.name)
        if held:
            keys += held
            users += secret_users(kc, held[0].secret, deployments)
    findings = [Finding("role", Status.OK, _role_text(report), evidence={"role": report.role}),
                Finding("sessions", Status.OK, _sessions_text(report), value=len(report.sessions),
                        evidence={"clients": sorted({str(s["client_addr"])
                                                     for s in report.sessions})}),
                Finding("grants", Status.OK, f"{c.name} may read or change "
                        f"{len(report.grants)} table(s) in {settings.dbname}",
                        value=len(report.grants))]
    if keys:
        findings.append(_secret_sync(settings, c.name, keys[0], kube_apps.get(
            kc.settings, "secrets", keys[0].secret, kc.namespace)))
        where = ", ".join(f"{k.secret}/{k.key}" for k in keys)
        findings.append(Finding("secrets", Status.OK, f"held in: {where}"))
    else:
        findings.append(Finding("secrets", Status.WARNING, f"no Secret in {kc.namespace} holds "
                                f"{c.name}'s password: a new one would have nowhere to go"))
    return CredentialDiagnosis(target, c, kc.namespace, tuple(findings), role=report,
                               keys=tuple(keys), users=tuple(users))


def _secret_sync(settings: PostgresSettings, role: str, key: SecretKey,
                 secret: dict[str, object]) -> Finding:
    value = decoded(secret).get(key.key, "")
    password = (urlsplit(value).password or "") if key.form == "dsn" else value
    if postgres.authenticates(settings, user=role, password=password):
        return Finding("secret-in-sync", Status.OK,
                       f"{key.secret}/{key.key} holds {role}'s current password")
    return Finding("secret-in-sync", Status.WARNING,
                   f"{key.secret}/{key.key} does not log in as {role}: Secret and role differ")


def _diagnose_secret(target: Target, kc: KubeContext, c: Credential) -> CredentialDiagnosis:
    try:
        secret = kube_apps.get(kc.settings, "secrets", c.name, kc.namespace)
    except NotFound:
        raise ParameterError(f"credential={c.describe()!r}: there is no Secret {c.name!r} in "
                             f"{kc.namespace}", name="credential", accepted=ACCEPTED) from None
    names = secret_keys(secret, c.key)
    if not names:
        present = ", ".join(sorted(secret.get("data") or {})) or "none"
        raise ParameterError(f"credential={c.describe()!r}: no such key, or no secret-named key "
                             f"(its keys: {present})", name="credential", accepted=ACCEPTED)
    held = held_roles(secret, names)
    users = secret_users(kc, c.name)
    findings = [Finding("secret", Status.OK, f"{kc.namespace}/{c.name}: keys to rotate "
                        f"{', '.join(names)}"),
                Finding("pods", Status.OK, f"{sum(len(u.pods) for u in users)} pod(s) of "
                        f"{len(users)} Deployment(s) mount or read it", value=len(users))]
    return CredentialDiagnosis(target, c, kc.namespace, tuple(findings),
                               keys=tuple(SecretKey(c.name, k, "value") for k in names),
                               role_held=tuple(held), users=tuple(users))


def _role_text(r: RoleReport) -> str:
    flags = [f for f in ("superuser", "createrole", "createdb", "replication", "bypassrls")
             if r.role.get(f)]
    member = ", ".join(r.role.get("member_of") or []) or "no role"
    return (f"role {r.role['role']}: {', '.join(flags) or 'no special attributes'}; "
            f"member of {member}" + ("; this runbook's own role" if r.role.get("own_role")
                                     else ""))


def _sessions_text(r: RoleReport) -> str:
    if not r.sessions:
        return "no session now (ended sessions: see the server log, log_connections)"
    clients = sorted({f"{s['client_addr']} ({s['application'] or '?'})" for s in r.sessions})
    return f"{len(r.sessions)} session(s) now from {', '.join(clients)}"


def _key_findings(r: ApiKeyReport) -> tuple[Finding, ...]:
    org = r.organization
    total = sum(int(x["requests"]) for x in r.requests)
    hours = r.since_s / 3600
    return (
        Finding("organization", Status.OK, f"organization {org['id']} {org['slug']} "
                f"({org['name']}, {org['plan']}, {org['region']})", evidence=dict(org)),
        Finding("keys", Status.OK, f"{len(r.keys)} key(s), {len(r.active_ids)} active: "
                f"{', '.join(str(k['id']) + ' ' + str(k['prefix']) for k in r.keys)}",
                value=len(r.active_ids)),
        Finding("requests", Status.OK, f"{total} request(s) in the last {hours:g} h on "
                f"{len(r.endpoints)} endpoint(s)", value=total),
    )


def plan_credential_mitigation(d: CredentialDiagnosis, *, no_users_ok: bool = False
                               ) -> BreachPlan:
    """The rotation of ``d``'s credential, behind the guard rails of :mod:`.guards`.

    Returns:
        :class:`BreachPlan`; for a diagnose-only run an empty plan (``nothing to do``).
    Raises:
        UnsafeActionRefused: a superuser or the runbook's own role, a Secret key that holds a
            role's password, no Secret holding a role's password, or no known users without
            ``no_users_ok`` (nothing was changed).
    """
    c = d.credential
    if c is None:
        plan = Plan("rotate a credential", d.target, (), lambda: None)
        return BreachPlan(Mitigation(plan, verify=lambda: Verdict(True, "nothing rotated")), ())
    if c.kind == "api_keys" and d.api_keys is not None:
        used = [f"key {x['key_id']}: {x['requests']} request(s)" for x in d.api_keys.requests]
        used += [f"key {k['id']}: last used {k['last_used_at']:%Y-%m-%d %H:%M}Z"
                 for k in d.api_keys.keys if k["last_used_at"] is not None
                 and not any(x["key_id"] == k["id"] for x in d.api_keys.requests)]
        finding = guards.require_users(c, used, no_users_ok=no_users_ok)
        return BreachPlan(revoke_mitigation(d.target, d.api_keys), (finding,))
    kc = kube_context(d.target, d.namespace)
    users = [f"deployment/{u.deployment} ({len(u.pods)} pods)" for u in d.users]
    sessions = 0
    if c.kind == "postgres" and d.role is not None:
        guards.refuse_role(d.role.role)
        if not d.keys:
            raise UnsafeActionRefused(
                f"refused: no Secret in {d.namespace} holds {c.name}'s password, so the new one "
                "would reach no user; disable the role by hand (ALTER ROLE … NOLOGIN) or add its "
                "Secret; nothing was changed")
        sessions = len(d.role.sessions)
        users += [f"session {s['pid']} from {s['client_addr']} ({s['application'] or '?'})"
                  for s in d.role.sessions]
    else:
        guards.refuse_role_secret(c, d.role_held)
    finding = guards.require_users(c, users, no_users_ok=no_users_ok)
    rotation = Rotation(d.target, kc, c.name if c.kind == "postgres" else "", d.keys, d.users,
                        sessions)
    return BreachPlan(rotation_mitigation(rotation), (finding,))


__all__ = ["BreachPlan", "CredentialDiagnosis", "diagnose_credential",
           "plan_credential_mitigation"]
