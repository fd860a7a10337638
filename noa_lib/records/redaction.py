"""Scrubbing secrets from everything a record holds, before anything is written.

Two nets: every *known* secret value (resolved from the configured targets' secret references and
from secret-named environment variables) is replaced wherever it appears, including URL-encoded;
and *secret-looking* text is replaced by the detectors of :mod:`noa_lib.records.secret_patterns`
(detect-secrets' plugins plus our own rules: AI-provider keys, Slack/GitHub/GitLab tokens, JWTs,
private keys, cloud keys, URL passwords, high-entropy values next to secret-like names) even when
nobody told us it was secret. A secret made during a run (a rotated password) is registered by the
kernel as a digest (:func:`noa_lib.journal.register_secret`) and every token of the record with
that digest is masked too. Checksums, digests, ids, LSNs and PromQL are evidence and stay.

Every path that writes (record cells, metadata, HTML, index, progress lines, CLI messages, the
alert receiver's log) goes through one :class:`Redactor`; :func:`default_redactor` is the one
for text that has no configuration at hand, :class:`RedactingFilter` the one for ``logging``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from noa_lib.config import Config
from noa_lib.journal import secret_digest
from noa_lib.records.secret_patterns import Span, rules

MASK = "[REDACTED]"
_MIN_SECRET_LEN = 4
_SECRET_ENV_NAME = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|ACCESS_KEY|API_KEY|_PWD$)", re.I
)
_IMAGE_PREFIX = "image/"
# joins the strings of one record for a single scan: no detector's span crosses a NUL
_SEPARATOR = "\n\x00\n"
# tokens a registered secret can be: URL-safe (token_urlsafe, DSN parts) and base64
_TOKEN_RES = (re.compile(r"[A-Za-z0-9_\-]+"), re.compile(r"[A-Za-z0-9+/]+={0,2}"))

class Redactor:
    """Replaces known secret values and secret-looking strings in text and JSON-like data."""

    def __init__(self, secrets: Iterable[str] = (), *, digests: Iterable[str] = (),
                 lengths: Iterable[int] = ()):
        # secrets made during a run are known by digest only (journal.register_secret)
        self._digests = frozenset(digests)
        self._lengths = frozenset(lengths)
        self._secrets = tuple(secrets)
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
        spans: list[Span] = []
        if self._known_re is not None:
            spans.extend(m.span() for m in self._known_re.finditer(value))
        if self._digests:
            spans.extend(self._digest_spans(value))
        low: str | None = value.lower()
        if low is not None and len(low) != len(value):  # a character that lower-cases to two
            low = None
        for rule in rules():
            spans.extend(rule.spans(value, low))
        if not spans:
            return value
        spans.sort()
        parts: list[str] = []
        done = 0
        for start, end in spans:
            if start > done or not parts:  # a new masked run (overlapping ones merge)
                parts += [value[done:start], MASK]
            done = max(done, end)
        parts.append(value[done:])
        return "".join(parts)

    def with_digests(self, digests: Iterable[str], lengths: Iterable[int]) -> Redactor:
        """This redactor also masking every token whose SHA-256 is one of ``digests``."""
        return Redactor(self._secrets, digests=self._digests | set(digests),
                        lengths=self._lengths | set(lengths))

    def _digest_spans(self, value: str) -> Iterator[Span]:
        for pattern in _TOKEN_RES:
            for m in pattern.finditer(value):
                if len(m.group()) in self._lengths and secret_digest(m.group()) in self._digests:
                    yield m.span()

    def texts(self, values: list[str]) -> list[str]:
        """``values`` each masked, scanned as one text (a record holds thousands of short strings:
        one scan costs far less than one per string)."""
        if len(values) < 2:
            return [self.text(v) for v in values]
        joined = self.text(_SEPARATOR.join(values))
        parts = joined.split(_SEPARATOR)
        if len(parts) != len(values):  # a value held the separator: mask one by one
            return [self.text(v) for v in values]
        return parts

    def data(self, value: Any) -> Any:
        """A deep copy of JSON-like ``value`` with every string masked (image payloads kept)."""
        found: list[str] = []
        _strings(value, found)
        return _rebuild(value, iter(self.texts(found)))

    def leaks(self, text: str) -> list[str]:
        """Known secrets still present in ``text`` (for tests and self-checks)."""
        return [s for s in self._known if s in text]


def _strings(value: Any, into: list[str]) -> None:
    """Append every string of JSON-like ``value`` to ``into``, in :func:`_rebuild`'s order."""
    if isinstance(value, str):
        into.append(value)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if not (isinstance(k, str) and k.startswith(_IMAGE_PREFIX)):
                _strings(v, into)
    elif isinstance(value, list | tuple):
        for v in value:
            _strings(v, into)


def _rebuild(value: Any, masked: Iterator[str]) -> Any:
    """A copy of ``value`` whose strings are taken from ``masked`` in :func:`_strings`' order."""
    if isinstance(value, str):
        return next(masked)
    if isinstance(value, Mapping):
        return {
            k: (v if isinstance(k, str) and k.startswith(_IMAGE_PREFIX) else _rebuild(v, masked))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_rebuild(v, masked) for v in value]
    return value


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


def default_redactor() -> Redactor:
    """A redactor for text without a configuration at hand (CLI messages, logs): the patterns and
    the secret-named environment variables."""
    return Redactor(known_secrets(None))


class RedactingFilter(logging.Filter):
    """A ``logging`` filter that masks each record's message and traceback with ``redactor``."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message (arguments merged) and exception text by masked ones;
        always keeps the record."""
        record.msg = self._redactor.text(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self._redactor.text(
                logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self._redactor.text(record.stack_info)
        return True


def query_redactor() -> Callable[[str], str]:
    """``text -> masked text`` for what a runbook captures from a system before it keeps it
    (query texts of ``pg_stat_activity``): every configured target's secrets, secret-named
    environment variables and secret-looking text."""
    from noa_lib.config import load_config
    from noa_lib.errors import ConfigError

    try:
        config: Config | None = load_config()
    except ConfigError:
        config = None
    return Redactor(known_secrets(config)).text


__all__ = ["MASK", "RedactingFilter", "Redactor", "default_redactor", "known_secrets",
           "query_redactor"]
