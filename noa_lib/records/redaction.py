"""Scrubbing secrets from everything a record holds, before anything is written.

Two nets: every *known* secret value (resolved from the configured targets' secret references and
from secret-named environment variables) is replaced wherever it appears, including URL-encoded;
and *secret-looking* text (passwords in DSNs, ``password=…``, AWS keys, bearer tokens, private keys)
is replaced by pattern even when nobody told us it was secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from noa_lib.config import Config

MASK = "[REDACTED]"
_MIN_SECRET_LEN = 4
_SECRET_ENV_NAME = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|ACCESS_KEY|API_KEY|_PWD$)", re.I
)
_IMAGE_PREFIX = "image/"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:)([^\s@/]+)(@)"), rf"\1{MASK}\3"),
    # libpq key=value DSN and generic password=/secret=/token= assignments
    (
        re.compile(
            r"(?i)(\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|"
            r"secret[_-]?access[_-]?key|aws_secret_access_key|pgpassword)\b"
            r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&}]+)"
        ),
        rf"\1{MASK}",
    ),
    # AWS access key ids
    (re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[0-9A-Z]{16}\b"), MASK),
    # Authorization headers / bearer tokens
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]{8,}=*"), rf"\1 {MASK}"),
    # PEM private keys
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        MASK,
    ),
)


class Redactor:
    """Replaces known secret values and secret-looking strings in text and JSON-like data."""

    def __init__(self, secrets: Iterable[str] = ()):
        variants: set[str] = set()
        for secret in secrets:
            if len(secret) < _MIN_SECRET_LEN:
                continue
            variants.update({secret, quote(secret, safe=""), quote_plus(secret)})
        # longest first so a secret containing another is masked whole
        self._known = sorted(variants, key=len, reverse=True)
        self._known_re = (
            re.compile("|".join(re.escape(v) for v in self._known)) if self._known else None
        )

    def text(self, value: str) -> str:
        """``value`` with every secret masked."""
        if self._known_re is not None:
            value = self._known_re.sub(MASK, value)
        for pattern, replacement in _PATTERNS:
            value = pattern.sub(replacement, value)
        return value

    def data(self, value: Any) -> Any:
        """A deep copy of JSON-like ``value`` with every string masked (image payloads kept)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {
                k: (v if isinstance(k, str) and k.startswith(_IMAGE_PREFIX) else self.data(v))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value

    def leaks(self, text: str) -> list[str]:
        """Known secrets still present in ``text`` (for tests and self-checks)."""
        return [s for s in self._known if s in text]


def known_secrets(config: Config | None, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value we can know of: all targets' resolvable references and secret-named
    environment variables."""
    env = os.environ if environ is None else environ
    values: list[str] = []
    if config is not None:
        for target in config.targets.values():
            values.extend(target.secret_values())
    for name, value in env.items():
        if _SECRET_ENV_NAME.search(name) and len(value) >= _MIN_SECRET_LEN:
            values.append(value)
    return values


__all__ = ["MASK", "Redactor", "known_secrets"]
