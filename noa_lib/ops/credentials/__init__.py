"""Rotating a compromised credential (``incident/security_breach``), each kind diagnose → plan →
confirm → apply → verify → revert.

- :mod:`.parse` — the ``credential`` parameter (``postgres:<role>``, ``secret:<name>[/<key>]``,
  ``api_keys:<org id>|<key ids>|<prefix>``) as a typed :class:`~.parse.Credential`;
- :mod:`.users` — what uses a credential: the Secrets holding a role's password or DSN, the
  Deployments (and their pods) reading a Secret;
- :mod:`.touched` — what it touched, for the breach notice: a role's sessions and grants, API
  keys' organization and requests, a Secret's pods;
- :mod:`.guards` — the refusals: superusers, the runbook's own role, no known users;
- :mod:`.rotate` — role password and Secret rotation (Secret updated, sessions ended, users
  restarted) as a :class:`~noa_lib.ops.mitigation.Mitigation`;
- :mod:`.api_keys` — API-key revocation, reverted only for the keys the run revoked;
- :mod:`.breach` — the runbook's entry points: :func:`~.breach.diagnose_credential` and
  :func:`~.breach.plan_credential_mitigation`.

A new password or value is generated inside the plan's ``perform`` and never returned, shown or
put in a :class:`~noa_lib.ops.safety.Change`; the verify reads it back from the Secret.
"""
