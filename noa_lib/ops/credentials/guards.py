"""The refusals of ``incident/security_breach``: checked before a plan is built, never silent.

- a superuser role, or the role this runbook connects as, is never rotated here;
- a Secret key holding a database role's password or DSN is rotated with the role
  (``postgres:<role>``), never alone (the Secret would no longer match the role);
- a credential whose users cannot be named (no Deployment reading the Secret, no session, no
  recorded use of the API keys) is refused unless ``no_users_ok=True``: rotating without saying
  what breaks is how an outage starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from noa_lib.errors import UnsafeActionRefused
from noa_lib.ops.credentials.parse import Credential
from noa_lib.ops.findings import Finding, Status


def refuse_role(role: dict[str, Any]) -> None:
    """Refuse rotating a superuser role or the runbook's own connection role.

    Raises:
        UnsafeActionRefused: with the reason; nothing was changed.
    """
    name = role.get("role")
    if role.get("superuser"):
        raise UnsafeActionRefused(
            f"refused: role {name!r} is a superuser; rotate superuser passwords by hand with the "
            "database's break-glass procedure, not from a runbook; nothing was changed")
    if role.get("own_role"):
        raise UnsafeActionRefused(
            f"refused: role {name!r} is the role this runbook connects as; rotating it would cut "
            "off the runbook mid-change (rotate it from another role); nothing was changed")


def refuse_role_secret(credential: Credential, role_keys: Sequence[tuple[str, str]]) -> None:
    """Refuse rotating Secret keys that hold a database role's credential (``(key, role)``).

    Raises:
        UnsafeActionRefused: naming the ``postgres:<role>`` credential to use instead.
    """
    if role_keys:
        key, role = role_keys[0]
        raise UnsafeActionRefused(
            f"refused: {credential.describe()} key {key!r} holds the password of database role "
            f"{role!r}; rotate it with credential='postgres:{role}' (role and Secret together); "
            "nothing was changed")


def require_users(credential: Credential, users: Sequence[str], *, no_users_ok: bool
                  ) -> Finding:
    """The finding that names ``users`` (what will notice the rotation), or the refusal.

    Returns:
        ``ok`` listing the users; ``warning`` when there are none and ``no_users_ok`` is set.
    Raises:
        UnsafeActionRefused: no users and ``no_users_ok`` is False.
    """
    what = credential.describe()
    if users:
        return Finding("users", Status.OK, f"{what} is used by {len(users)}: {', '.join(users)}",
                       value=len(users), evidence={"users": list(users)})
    if not no_users_ok:
        raise UnsafeActionRefused(
            f"refused: nothing is known to use {what} (no Deployment reads it, no session or "
            "request uses it), so what the rotation breaks cannot be said; find its users first, "
            "or set no_users_ok=True to rotate it anyway; nothing was changed")
    return Finding("users", Status.WARNING,
                   f"nothing is known to use {what}; rotating anyway (no_users_ok=True)", value=0)


__all__ = ["refuse_role", "refuse_role_secret", "require_users"]
