"""Rotating a database role's password or a Kubernetes Secret's value, as one
:class:`~noa_lib.ops.mitigation.Mitigation`.

The plan lists every change (the role's password, each Secret key holding it, the sessions to end,
each Deployment to restart) without any value. ``perform`` generates the new value
(``secrets.token_urlsafe(32)``), sets the role's password as a client-side SCRAM verifier, writes
it into the Secret keys (a DSN keeps everything but its password), ends the role's sessions and
restarts the Deployments reading the Secret. The old values stay in memory only, for the verify
(the old password must be refused) and the revert (put back when the verify fails). The verify
reads the new value back from the Secret: old refused, new accepted, no session from before the
rotation, every restarted Deployment rolled out with its pods Ready.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from noa_lib.clients import kube_apps, postgres
from noa_lib.clients.postgres import sql
from noa_lib.config import PostgresSettings, Target
from noa_lib.errors import ConfigError, NoaError, StepFailed
from noa_lib.journal import register_secret
from noa_lib.ops.credentials.users import SecretKey, SecretUser, decoded
from noa_lib.ops.deploy.context import KubeContext
from noa_lib.ops.deploy.restart import RESTARTED_AT, restart_deployment
from noa_lib.ops.deploy.rollout import rollout_status
from noa_lib.ops.mitigation import Mitigation, Verdict
from noa_lib.ops.safety import Change, Plan

MASK = "[REDACTED]"
# Change fields say "login" / "data[<key>]", never "password: …", which the record's redactor
# masks as a secret-looking assignment (the values here are descriptions, not secrets).
_NEW = {"password": "(the new password; never shown)", "dsn": "(the DSN with the new password)",
        "value": "(a new random value; never shown)"}
_TERMINATE_SQL = ("SELECT pid, pg_terminate_backend(pid) AS ended FROM pg_stat_activity "
                  "WHERE usename = %s AND pid <> pg_backend_pid() "
                  "AND backend_type = 'client backend'")
_OLD_SESSIONS_SQL = ("SELECT count(*) AS n FROM pg_stat_activity WHERE usename = %s "
                     "AND backend_type = 'client backend' AND backend_start < %s")


@dataclass
class _State:
    """What one run keeps in memory between perform, verify and revert (never displayed)."""

    old: dict[str, dict[str, str]] = field(default_factory=dict)
    rotated_at: datetime | None = None
    generations: dict[str, int] = field(default_factory=dict)

    def __repr__(self) -> str:
        return "_State(<redacted>)"


@dataclass(frozen=True)
class RotationResult:
    """What ``perform`` did (no values): the role, the Secret keys, sessions ended, restarts."""

    role: str
    secret_keys: tuple[str, ...]
    sessions_ended: int
    restarted: tuple[str, ...]

    def describe(self) -> str:
        parts = [f"role {self.role}: password changed"] if self.role else []
        parts.append(f"Secret keys rewritten: {', '.join(self.secret_keys)}")
        if self.role:
            parts.append(f"{self.sessions_ended} session(s) ended")
        parts.append(f"restarted: {', '.join(self.restarted) or 'nothing'}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Rotation:
    """A rotation to plan: the ``role`` (``""`` for a Secret alone), the Secret ``keys`` holding
    the credential, its ``users`` and how many ``sessions`` the role has now."""

    target: Target
    kc: KubeContext
    role: str
    keys: tuple[SecretKey, ...]
    users: tuple[SecretUser, ...]
    sessions: int = 0


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _with_password(dsn: str, password: str) -> str:
    parts = urlsplit(dsn)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{password}@{host}"))


def _password_in(value: str, form: str) -> str:
    return (urlsplit(value).password or "") if form == "dsn" else value


def _pg(target: Target) -> PostgresSettings:
    if target.postgres is None:
        raise ConfigError(f"target {target.name!r} has no [postgres] section")
    return target.postgres


def _set_password(target: Target, role: str, password: str) -> None:
    with postgres.connect(_pg(target)) as conn:
        verifier = postgres.password_verifier(conn, role, password)
        postgres.query(conn, sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(verifier)))


def _write_keys(r: Rotation, values: dict[tuple[str, str], str]) -> None:
    by_secret: dict[str, dict[str, str]] = {}
    for (secret, key), value in values.items():
        by_secret.setdefault(secret, {})[key] = _b64(value)
    for secret, data in by_secret.items():
        kube_apps.patch(r.kc.settings, "secrets", secret, {"data": data}, r.kc.namespace,
                        patch_type="merge")


def _restart(r: Rotation, state: _State) -> tuple[str, ...]:
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    names = tuple(sorted({u.deployment for u in r.users}))
    for name in names:
        state.generations[name] = restart_deployment(r.kc, name, at)
    return names


def _scrubbed(exc: NoaError, *values: str) -> StepFailed:
    text = str(exc)
    for v in values:
        text = text.replace(v, MASK).replace(_b64(v), MASK)
    return StepFailed(f"rotation failed: {type(exc).__name__}: {text}")


def _perform(r: Rotation, state: _State) -> RotationResult:
    state.old = {s: decoded(kube_apps.get(r.kc.settings, "secrets", s, r.kc.namespace))
                 for s in sorted({k.secret for k in r.keys})}
    new = secrets.token_urlsafe(32)
    register_secret(new)  # before anything could display it: the record's redactor masks it
    old_password = next((_password_in(state.old[k.secret][k.key], k.form) for k in r.keys), "")
    for k in r.keys:  # the compromised values are still secrets
        old_value = _password_in(state.old[k.secret].get(k.key, ""), k.form)
        if old_value:
            register_secret(old_value)
    values = {(k.secret, k.key): (_with_password(state.old[k.secret][k.key], new)
                                  if k.form == "dsn" else new) for k in r.keys}
    try:
        if r.role:
            _set_password(r.target, r.role, new)
        try:
            _write_keys(r, values)
        except NoaError:
            if r.role and old_password:  # the Secret still holds the old one: match it again
                _set_password(r.target, r.role, old_password)
            raise
    except NoaError as exc:
        raise _scrubbed(exc, new) from None
    state.rotated_at = datetime.now(UTC)
    ended = 0
    if r.role:
        with postgres.connect(_pg(r.target)) as conn:
            ended = sum(1 for row in postgres.query(conn, _TERMINATE_SQL, (r.role,))
                        if row["ended"])
    restarted = _restart(r, state)
    return RotationResult(r.role, tuple(f"{k.secret}/{k.key}" for k in r.keys), ended,
                          restarted)


def _verify(r: Rotation, state: _State) -> Verdict:
    notes: list[str] = []
    ok = True
    current = {s: decoded(kube_apps.get(r.kc.settings, "secrets", s, r.kc.namespace))
               for s in state.old}
    changed = all(current[k.secret].get(k.key) != state.old[k.secret].get(k.key)
                  for k in r.keys)
    ok &= changed
    notes.append("Secret keys hold the new value" if changed else "a Secret key still holds the "
                 "old value")
    if r.role:
        first = r.keys[0]
        old = _password_in(state.old[first.secret][first.key], first.form)
        new = _password_in(current[first.secret].get(first.key, ""), first.form)
        settings = _pg(r.target)
        old_refused = not postgres.authenticates(settings, user=r.role, password=old)
        new_works = bool(new) and postgres.authenticates(settings, user=r.role, password=new)
        with postgres.connect(settings, read_only=True) as conn:
            before = int(postgres.query(conn, _OLD_SESSIONS_SQL,
                                        (r.role, state.rotated_at))[0]["n"])
        ok &= old_refused and new_works and before == 0
        notes.append(f"old password {'refused' if old_refused else 'STILL ACCEPTED'}, new one "
                     f"(read back from {first.secret}/{first.key}) "
                     f"{'accepted' if new_works else 'REFUSED'}")
        notes.append(f"{before} session(s) from before the rotation")
    rollouts = []
    for name, generation in sorted(state.generations.items()):
        status = rollout_status(kube_apps.get(r.kc.settings, "deployments", name,
                                              r.kc.namespace))
        done = status.complete and status.observed_generation >= generation
        ok &= done and status.ready == status.desired
        rollouts.append({"deployment": name, "ready": f"{status.ready}/{status.desired}",
                         "complete": done})
        notes.append(f"{name} {status.ready}/{status.desired} Ready"
                     + ("" if done else " (rolling)"))
    return Verdict(ok, "; ".join(notes), evidence={"rollouts": rollouts})


def _revert_plan(r: Rotation, state: _State) -> Plan:
    changes = [Change(f"secret/{r.kc.namespace}/{k.secret}", f"data[{k.key}]",
                      "(the new value)", "(the previous value)") for k in r.keys]
    if r.role:
        changes.insert(0, Change(f"role/{r.role}", "login", "(the new password)",
                                 "(the previous password)"))
    changes += [Change(f"deployment/{r.kc.namespace}/{u}", "restart", None, "(time of apply)")
                for u in sorted({u.deployment for u in r.users})]

    def perform() -> str:
        first = r.keys[0]
        old = _password_in(state.old[first.secret][first.key], first.form)
        if r.role and old:
            _set_password(r.target, r.role, old)
        _write_keys(r, {(k.secret, k.key): state.old[k.secret][k.key] for k in r.keys})
        return "restored the previous credential; restarted: " + ", ".join(_restart(r, state))

    return Plan("restore the previous credential", r.target, tuple(changes), perform,
                rollback="rotate again once the users can take the new value")


def rotation_mitigation(r: Rotation, *, verify_timeout_s: float = 180.0) -> Mitigation:
    """The :class:`Mitigation` rotating ``r``'s credential (see the module docstring).

    Returns:
        Its plan (no values in any change), the verify and the revert.
    """
    state = _State()
    ns = r.kc.namespace
    changes: list[Change] = []
    if r.role:
        changes.append(Change(f"role/{r.role}", "login", "(the compromised password)",
                              "(a new random password, 43 characters; never shown)"))
    changes += [Change(f"secret/{ns}/{k.secret}", f"data[{k.key}]", "(current value)",
                       _NEW[k.form]) for k in r.keys]
    if r.role:
        changes.append(Change(f"sessions/{r.role}", "open sessions", r.sessions, 0))
    for name in sorted({u.deployment for u in r.users}):
        changes.append(Change(f"deployment/{ns}/{name}",
                              f"spec.template.metadata.annotations[{RESTARTED_AT}]",
                              None, "(time of apply: rollout restart)"))
    what = f"database role {r.role}" if r.role else f"Secret {ns}/{r.keys[0].secret}"
    plan = Plan(f"rotate the {what}", r.target, tuple(changes),
                lambda: _perform(r, state),
                rollback="the previous value is restored automatically when the verify fails; "
                         "otherwise rotate again (the old value is compromised)")
    return Mitigation(plan, verify=lambda: _verify(r, state),
                      revert=lambda: _revert_plan(r, state),
                      verify_timeout_s=verify_timeout_s, verify_interval_s=2.0)


__all__ = ["Rotation", "RotationResult", "rotation_mitigation"]
