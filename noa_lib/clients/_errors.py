"""Turning SDK failures into our error tree with safe, short messages.

Every client builds its error messages here so that the same two rules hold everywhere:

* **scrubbed** — the resolved secret values the client used (passwords, keys, tokens, also in
  their URL-encoded form) and secret-looking fragments (``password=…``, ``user:pass@`` in URLs,
  ``Bearer …``, ``token=…``) are replaced by ``***`` before a message leaves the client;
* **short** — one line, at most :data:`MAX_MESSAGE` characters.

Messages read like ``PostgreSQL at 127.0.0.1:5999 unreachable: connection refused`` so a
connectivity finding can show them as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from noa_lib.errors import ClientError

MAX_MESSAGE = 300
REDACTED = "***"

_KEYS = (
    r"password|passwd|pwd|secret|secret_access_key|token|access_token|api[_-]?key|"
    r"x-amz-signature|x-amz-security-token|signature"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # conninfo / query-string style: password=secret, password='se cret', token = abc
    (
        re.compile(rf"(?i)\b({_KEYS})(\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s&,;]+)"),
        rf"\1\2{REDACTED}",
    ),
    # mapping style: "token": "abc", password:abc (a bare word after ": " is prose, kept)
    (
        re.compile(rf"(?i)\b({_KEYS})(\"?\s*:\s*)('[^']*'|\"[^\"]*\")"),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(rf"(?i)\b({_KEYS})(:)([^\s&,;'\"]+)"), rf"\1\2{REDACTED}"),
    # URL user info: scheme://user:pass@host
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]*):[^/\s@]*@"), rf"\1:{REDACTED}@"),
    # HTTP authorization headers
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {REDACTED}"),
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every value in ``secrets`` and every secret-looking fragment replaced.

    Returns:
        The scrubbed text (same length or shorter per replacement; never the secret).
    """
    variants: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        variants.update({secret, quote(secret, safe=""), quote_plus(secret)})
    # longest first so a secret that contains another is replaced whole
    for value in sorted(variants, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def connection_reason(exc: BaseException) -> str:
    """Why a connection failed, in words an operator can act on: ``connection refused``,
    ``unknown host`` or ``cannot connect``."""
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "name resolution" in text:
        return "unknown host"
    return "cannot connect"


def shorten(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line (whitespace runs collapsed), cut to ``limit`` characters with ``…``."""
    one_line = " ".join(text.split())
    if len(one_line) <= limit:
        return one_line
    return one_line[: limit - 1].rstrip() + "…"


def safe(text: str, secrets: Iterable[str] = ()) -> str:
    """Scrubbed then shortened ``text``: what may go into an exception message or a finding."""
    return shorten(scrub(text, secrets))


def failure(
    cls: type[ClientError],
    backend: str,
    endpoint: str,
    reason: str,
    secrets: Iterable[str] = (),
) -> ClientError:
    """An instance of ``cls`` whose message reads ``"<backend> at <endpoint> <reason>"``.

    ``reason`` is scrubbed of ``secrets`` and secret-looking fragments; the whole message is one
    line of at most :data:`MAX_MESSAGE` characters. ``backend`` is kept on the error's
    ``backend`` attribute.
    """
    message = safe(f"{backend} at {endpoint} {reason}", secrets)
    return cls(message, backend=backend)


__all__ = ["MAX_MESSAGE", "REDACTED", "failure", "safe", "scrub", "shorten"]
