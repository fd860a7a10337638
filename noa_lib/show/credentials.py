"""A compromised credential rendered for ``incident/security_breach``: what uses it and what it
touched, one table each (no secret value is ever in a diagnosis, so none can be shown)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from noa_lib.ops.credentials.breach import CredentialDiagnosis

if TYPE_CHECKING:
    import pandas as pd


def _frame(rows: list[dict[str, Any]], title: str, columns: list[str] | None = None
           ) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=columns) if columns else pd.DataFrame(rows)
    frame.attrs["title"] = title
    return frame


def credential_users_table(d: CredentialDiagnosis) -> pd.DataFrame:
    """What uses the credential: the Deployments (how, pods, Ready) and a role's sessions, or
    the API keys with their use; without a credential, the login roles in scope."""
    if d.scope is not None:
        return _frame(list(d.scope.roles), "login roles (credential=postgres:<role>)")
    if d.api_keys is not None:
        used = {int(r["key_id"]): r for r in d.api_keys.requests}
        rows = [{**k, "requests": int(used[k["id"]]["requests"]) if k["id"] in used else 0,
                 "first_seen": used[k["id"]]["first_seen"] if k["id"] in used else None,
                 "last_seen": used[k["id"]]["last_seen"] if k["id"] in used else None}
                for k in d.api_keys.keys]
        return _frame(rows, f"API keys of organization {d.api_keys.organization['id']}")
    rows = [{"user": f"deployment/{u.deployment}", **u.as_row()} for u in d.users]
    columns = ["user", "secret", "via", "pods", "ready"]
    if d.role is not None:
        rows += [{"user": f"session {s['pid']}", "client": s["client_addr"],
                  "application": s["application"], "database": s["database"],
                  "state": s["state"], "since": s["backend_start"]} for s in d.role.sessions]
        columns += ["client", "application", "database", "state", "since"]
    return _frame(rows, "what uses the credential", columns)


def credential_touched_table(d: CredentialDiagnosis) -> pd.DataFrame:
    """What the credential touched: a role's grants (table, privileges), the API keys' requests
    by endpoint in the window, a Secret's pods; without a credential, the Secrets in scope."""
    if d.scope is not None:
        return _frame(list(d.scope.secrets), "Secrets (credential=secret:<name>[/<key>])")
    if d.api_keys is not None:
        return _frame(list(d.api_keys.endpoints), "requests by endpoint",
                      ["method", "endpoint", "requests", "first_seen", "last_seen"])
    if d.role is not None:
        return _frame(list(d.role.grants), f"tables {d.role.role['role']} may use",
                      ["object", "privileges"])
    rows = [{"deployment": u.deployment, "pod": p} for u in d.users for p in u.pods]
    return _frame(rows, "pods reading the Secret", ["deployment", "pod"])


__all__ = ["credential_touched_table", "credential_users_table"]
