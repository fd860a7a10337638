"""The ``credential`` parameter of ``incident/security_breach``, parsed before anything is read.

Accepted forms::

    postgres:<role>                           a database role's password
    secret:<name>[/<key>]                     a Kubernetes Secret (one key, or its secret keys)
    api_keys:<org id>|<key id,...>|<prefix>   NOA API keys of one organization (ids and/or
                                              a prefix; both empty: every key of the org)
    ""                                        nothing to rotate: list the credentials in scope
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from noa_lib.errors import ParameterError
from noa_lib.ops.names import validate_name

Kind = Literal["postgres", "secret", "api_keys"]
ACCEPTED = ("postgres:<role>, secret:<name>[/<key>] or api_keys:<org id>|<key id,...>|<prefix> "
            "(empty: list the credentials in scope)")
_ROLE_RE = re.compile(r"^[a-z_][a-z0-9_$]{0,62}$")
_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_]{1,32}$")


@dataclass(frozen=True)
class Credential:
    """One credential to rotate. ``name`` is the role, the Secret or the organization id (as
    text); ``key`` the Secret's key (``""``: its secret-named keys); ``key_ids``/``prefix``
    select API keys of the organization."""

    kind: Kind
    name: str
    key: str = ""
    key_ids: tuple[int, ...] = ()
    prefix: str = ""

    @property
    def org_id(self) -> int:
        """The organization of an ``api_keys`` credential."""
        return int(self.name)

    def describe(self) -> str:
        """The credential in the parameter's own syntax."""
        if self.kind == "secret":
            return f"secret:{self.name}" + (f"/{self.key}" if self.key else "")
        if self.kind == "api_keys":
            return f"api_keys:{self.name}|{','.join(map(str, self.key_ids))}|{self.prefix}"
        return f"postgres:{self.name}"


def _error(text: str, problem: str) -> ParameterError:
    return ParameterError(f"credential={text!r}: {problem}; accepted: {ACCEPTED}",
                          name="credential", accepted=ACCEPTED)


def parse_credential(text: str) -> Credential | None:
    """The :class:`Credential` ``text`` names, or ``None`` for ``""`` (diagnose only).

    Raises:
        ParameterError: ``text`` is not one of the accepted forms (``name="credential"``, the
            message lists the forms).
    """
    text = (text or "").strip()
    if not text:
        return None
    kind, sep, rest = text.partition(":")
    if not sep or kind not in ("postgres", "secret", "api_keys"):
        raise _error(text, f"unknown kind {kind!r}" if sep else "no kind")
    if kind == "postgres":
        if not _ROLE_RE.match(rest):
            raise _error(text, f"{rest!r} is not a role name (lower case letters, digits, _)")
        return Credential("postgres", rest)
    if kind == "secret":
        return _secret(text, rest)
    return _api_keys(text, rest)


def _secret(text: str, rest: str) -> Credential:
    name, _, key = rest.partition("/")
    try:
        validate_name(name, "credential", "subdomain")
    except ParameterError:
        raise _error(text, f"{name!r} is not a Secret name") from None
    if "/" in rest and not _KEY_RE.match(key):
        raise _error(text, f"{key!r} is not a Secret key (letters, digits, -, _, .)")
    return Credential("secret", name, key=key)


def _api_keys(text: str, rest: str) -> Credential:
    parts = rest.split("|")
    if len(parts) != 3:
        raise _error(text, "api_keys needs three parts separated by '|'")
    org, ids, prefix = (p.strip() for p in parts)
    if not org.isdigit() or int(org) <= 0:
        raise _error(text, f"organization id {org!r} is not a positive number")
    key_ids: list[int] = []
    for item in filter(None, (i.strip() for i in ids.split(","))):
        if not item.isdigit() or int(item) <= 0:
            raise _error(text, f"key id {item!r} is not a positive number")
        key_ids.append(int(item))
    if prefix and not _PREFIX_RE.match(prefix):
        raise _error(text, f"prefix {prefix!r} is not a key prefix (letters, digits, _)")
    return Credential("api_keys", str(int(org)), key_ids=tuple(sorted(set(key_ids))),
                      prefix=prefix)


__all__ = ["ACCEPTED", "Credential", "Kind", "parse_credential"]
