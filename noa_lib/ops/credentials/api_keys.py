"""Revoking NOA API keys (``api_keys.revoked_at``) as a
:class:`~noa_lib.ops.mitigation.Mitigation`; the revert un-revokes only the keys this run revoked
(matched by id and the exact ``revoked_at`` it set), never one revoked before or by someone else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from noa_lib.clients import postgres
from noa_lib.config import PostgresSettings, Target
from noa_lib.errors import ConfigError
from noa_lib.ops.credentials.touched import ApiKeyReport
from noa_lib.ops.mitigation import Mitigation, Verdict
from noa_lib.ops.safety import Change, Plan

_REVOKE_SQL = ("UPDATE api_keys SET revoked_at = now() WHERE org_id = %s AND id = ANY(%s) "
               "AND revoked_at IS NULL RETURNING id, revoked_at")
_ACTIVE_SQL = ("SELECT id FROM api_keys WHERE org_id = %s AND id = ANY(%s) "
               "AND revoked_at IS NULL ORDER BY id")
_UNREVOKE_SQL = ("UPDATE api_keys SET revoked_at = NULL WHERE id = %s AND revoked_at = %s "
                 "RETURNING id")


@dataclass
class _Revoked:
    """Keys this run revoked: id → the ``revoked_at`` it set."""

    at: dict[int, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class RevokeResult:
    """What ``perform`` did."""

    org_id: int
    revoked: tuple[int, ...]

    def describe(self) -> str:
        return (f"organization {self.org_id}: revoked key(s) "
                f"{', '.join(map(str, self.revoked)) or 'none (already revoked)'}")


def _settings(target: Target) -> PostgresSettings:
    if target.postgres is None:
        raise ConfigError(f"target {target.name!r} has no [postgres] section")
    return target.postgres


def revoke_mitigation(target: Target, report: ApiKeyReport, *, verify_timeout_s: float = 30.0
                      ) -> Mitigation:
    """The :class:`Mitigation` revoking the active keys of ``report``.

    Returns:
        An empty plan (``nothing to do``) when every key is revoked already.
    """
    org = int(report.organization["id"])
    ids = report.active_ids
    keys = {int(k["id"]): k for k in report.keys}
    state = _Revoked()
    changes = tuple(Change(f"api_key/{org}/{i} ({keys[i]['prefix']}, {keys[i]['name']})",
                           "revoked_at", None, "(time of apply)") for i in ids)

    def perform() -> RevokeResult:
        with postgres.connect(_settings(target)) as conn:
            rows = postgres.query(conn, _REVOKE_SQL, (org, list(ids)))
        state.at.update({int(r["id"]): r["revoked_at"] for r in rows})
        return RevokeResult(org, tuple(sorted(state.at)))

    def verify() -> Verdict:
        with postgres.connect(_settings(target), read_only=True) as conn:
            active = [int(r["id"]) for r in postgres.query(conn, _ACTIVE_SQL, (org, list(ids)))]
        if active:
            return Verdict(False, f"key(s) {active} still active", {"active": active})
        return Verdict(True, f"all {len(ids)} key(s) revoked: {', '.join(map(str, ids))}",
                       {"revoked": list(ids)})

    def revert() -> Plan:
        undo = tuple(Change(f"api_key/{org}/{i}", "revoked_at", "(set by this run)", None)
                     for i in sorted(state.at))

        def unrevoke() -> RevokeResult:
            restored: list[int] = []
            with postgres.connect(_settings(target)) as conn:
                for i, at in sorted(state.at.items()):
                    restored += [int(r["id"]) for r in postgres.query(conn, _UNREVOKE_SQL,
                                                                      (i, at))]
            return RevokeResult(org, tuple(restored))

        return Plan("un-revoke the API keys this run revoked", target, undo, unrevoke,
                    rollback="revoke them again")

    plan = Plan(f"revoke {len(ids)} API key(s) of organization {org}", target, changes, perform,
                rollback="the keys this run revoked are un-revoked when the verify fails "
                         "(revert); issue new keys to the organization instead of un-revoking")
    return Mitigation(plan, verify=verify, revert=revert, verify_timeout_s=verify_timeout_s,
                      verify_interval_s=1.0)


__all__ = ["RevokeResult", "revoke_mitigation"]
