"""Where secrets sit in free text: the detectors the redactor masks by.

Most formats come from ``detect-secrets`` (a maintained detector): every regex-based plugin it
ships (AWS, Azure storage, GitHub, GitLab, Slack, JWT, OpenAI, Stripe, Twilio, SendGrid, npm, PyPI,
Discord, Telegram, Mailchimp, Square, Artifactory, IBM, SoftLayer, Cloudant, private-key headers)
is taken with its own regexes, so an upgrade brings its new formats. Left out on purpose:

- the entropy plugins (``Base64HighEntropyString``, ``HexHighEntropyString``): they flag sha256
  checksums, image digests, container ids and git commits, which records keep as evidence;
  entropy is used here only next to a secret-like name (:data:`KEYWORD_VALUE`);
- ``KeywordDetector`` (line- and file-type-bound; :data:`KEYWORD_VALUE` covers it on any text);
- ``BasicAuthDetector`` (it reads a port and path as a password when a query string holds ``@``;
  the URL rule below stops at the host);
- ``IPPublicDetector`` (an address is evidence, not a secret);
- the keyword-bound IBM, Cloudant and SoftLayer plugins: their values sit next to a name
  :data:`KEYWORD_VALUE` covers (``*_password``, ``*_key``), and their look-behind regexes, tried
  at every position, cost more than all the others together.

Our own rules cover what it lacks: ``sk-proj-``/``sk-ant-``/plain ``sk-`` AI-provider keys,
``github_pat_``, ``npm_`` without an ``.npmrc`` line, Stripe test keys, Slack app tokens, Google
API keys, whole PEM/OpenSSH key blocks (the plugin only sees the header), whole JWTs (the plugin's
lazy regex stops before the signature), an AWS secret access key next to its key id, URL
passwords, ``Authorization`` headers, and values assigned to secret-like names.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

Span = tuple[int, int]

# detect-secrets' regexes say where a secret starts; the mask covers the whole token
_TOKEN_TAIL = re.compile(r"[A-Za-z0-9_\-+/=]*")
_EDGE = " \t\r\n\"'=:,;"
_EXCLUDED_PLUGINS = frozenset({
    "Base64HighEntropyString", "HexHighEntropyString", "KeywordDetector", "BasicAuthDetector",
    "IPPublicDetector", "CloudantDetector", "IbmCloudIamDetector", "IbmCosHmacDetector",
    "SoftlayerDetector",
})
# a plugin (or one regex of it) without a literal prefix runs only on the lines holding these
_PLUGIN_TRIGGERS = {
    "MailchimpDetector": ("-us",),
    r'(?:\s|=|:|"|^)AKC[a-zA-Z0-9]{10,}(?:\s|"|$)': ("AKC",),
    r'(?:\s|=|:|"|^)AP[\dABCDEF][a-zA-Z0-9]{8,}(?:\s|"|$)': ("AP",),
}

_NOT_A_VALUE = re.compile(
    r"(?i)(?:true|false|null|none|nil|yes|no|on|off|\*+|x+|changeme|redacted|\[REDACTED\]|"
    r"(?:env|file|k8s|vault|secret|ref):.*|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|<[^>]*>|\{\{.*\}\}|"
    r"%\(?\w*\)?s?|\?)"
)


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text`` (0.0 for the empty string)."""
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def looks_random(value: str, min_len: int = 16, min_entropy: float = 3.5) -> bool:
    """Whether ``value`` is long and varied enough to be a generated key or token."""
    return len(value) >= min_len and shannon_entropy(value) >= min_entropy


@dataclass(frozen=True)
class Rule:
    """One detector: ``pattern`` finds candidates; the masked span is group ``group`` (or every
    matched group, or the whole match when it has none), widened to the token's end when
    ``extend``; ``accept`` may veto a candidate value."""

    name: str
    pattern: re.Pattern[str]
    group: int | str | None = None
    extend: bool = False
    accept: Callable[[re.Match[str]], bool] | None = None
    trigger: tuple[str, ...] = ()

    def _matches(self, text: str, low: str | None) -> Iterator[re.Match[str]]:
        if not self.trigger or low is None:
            yield from self.pattern.finditer(text)
            return
        # only the lines holding a trigger (found by str.find: lower-case literals in the
        # lower-cased text, others as they are) are scanned by the pattern: a regex without a
        # literal prefix is tried at every position, str.find is not
        hits: list[int] = []
        for literal in self.trigger:
            haystack = low if literal.islower() else text
            at = haystack.find(literal)
            while at >= 0:
                hits.append(at)
                at = haystack.find(literal, at + 1)
        done = -1
        for at in sorted(hits):
            if at <= done:
                continue
            start = text.rfind("\n", 0, at) + 1
            end = text.find("\n", at)
            done = len(text) if end < 0 else end
            yield from self.pattern.finditer(text, start, done)

    def spans(self, text: str, low: str | None = None) -> Iterator[Span]:
        """Every span of ``text`` this rule masks; ``low`` is ``text.lower()`` when it has the
        same length (then triggers apply), else ``None``."""
        for match in self._matches(text, low):
            if self.accept is not None and not self.accept(match):
                continue
            if self.group is not None:
                if match.group(self.group) is None:
                    continue
                found = [match.span(self.group)]
            elif self.pattern.groups:
                found = [match.span(i) for i in range(1, self.pattern.groups + 1)
                         if match.group(i)]
                found = found or [match.span()]
            else:
                found = [match.span()]
            for start, end in found:
                while start < end and text[start] in _EDGE:
                    start += 1
                while end > start and text[end - 1] in _EDGE:
                    end -= 1
                if self.extend:
                    tail = _TOKEN_TAIL.match(text, end)
                    end = tail.end() if tail else end
                if end > start:
                    yield start, end


def _plugin_rules() -> list[Rule]:
    """The regexes of every regex-based detect-secrets plugin we use."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector

    rules: list[Rule] = []
    plugins: list[type[Any]] = list(get_mapping_from_secret_type_to_class().values())
    for cls in plugins:
        if cls.__name__ in _EXCLUDED_PLUGINS or not issubclass(cls, RegexBasedDetector):
            continue
        for regex in cls().denylist:
            rules.append(Rule(f"detect-secrets:{cls.__name__}", regex, extend=True,
                              trigger=_PLUGIN_TRIGGERS.get(
                                  cls.__name__, _PLUGIN_TRIGGERS.get(regex.pattern, ()))))
    return rules


def _ai_key(match: re.Match[str]) -> bool:
    body = match.group(0)
    return any(c.isdigit() for c in body) and looks_random(body, 24, 3.8)


def _keyword_value(match: re.Match[str]) -> bool:
    value = match.group("value")
    if _NOT_A_VALUE.fullmatch(value) or value.startswith("sha256:"):
        return False
    if match.group("strong"):
        return len(value) >= 4
    return looks_random(value)


# words of names that hold a secret
_STRONG_NAME_WORDS = (
    r"password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"private[_-]?key|credentials?|auth[_-]?key|session[_-]?key|signing[_-]?key|"
    r"encryption[_-]?key|master[_-]?key"
)
_KEYISH_WORD = r"key|signature|sig|hmac|salt|cookie|dsn|conn(?:ection)?[_-]?str(?:ing)?"
# a name that refers to a secret rather than holding it (secretName, password_file, token_ttl…)
_REFERENCE_SUFFIX = (
    r"(?<![_.-]name)(?<!Name)(?<![_.-]ref)(?<!Ref)(?<![_.-]file)(?<!File)(?<![_.-]path)"
    r"(?<!Path)(?<![_.-]id)(?<!Id)(?<![_.-]type)(?<!Type)(?<![_.-]ttl)(?<!TTL)(?<!Ttl)"
    r"(?<![_.-]expiry)(?<!Expiry)(?<![_.-]length)(?<!Length)(?<![_.-]count)(?<!Count)"
    r"(?<![_.-]seconds)(?<![_.-]total)(?<![_.-]url)(?<!Url)(?<![_.-]endpoint)"
)
_KEYWORD_TRIGGERS = ("pass", "pwd", "secret", "token", "key", "credential", "sig", "hmac", "salt",
                     "cookie", "dsn", "conn")
KEYWORD_VALUE = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:[A-Za-z0-9_.-]*?"
    rf"(?:(?P<strong>{_STRONG_NAME_WORDS})|{_KEYISH_WORD})[A-Za-z0-9_.-]*?){_REFERENCE_SUFFIX}"
    r"[\"']?\s*(?::=|=>|[:=])\s*(?:(?:b|r|u)?[\"'])?"
    r"(?P<value>[^\s\"',;&}\]<>)]+)"
)


@lru_cache(maxsize=1)
def rules() -> tuple[Rule, ...]:
    """Every detector, built once (compiling and importing detect-secrets costs ~50 ms)."""
    own = [
        # AI providers: Anthropic, OpenAI project/service/admin keys, plain sk- keys
        Rule("anthropic", re.compile(r"\bsk-ant-(?:api|admin|oat)\d{2}-[A-Za-z0-9_-]{20,}"),
             trigger=("sk-ant-",)),
        Rule("openai", re.compile(r"\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}"),
             accept=_ai_key, trigger=("sk-",)),
        Rule("github-pat", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}"), trigger=("github_pat_",)),
        Rule("github-token", re.compile(r"\bgh[oprsu]_[A-Za-z0-9]{30,}"), trigger=("gh",)),
        Rule("npm", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"), trigger=("npm_",)),
        Rule("stripe", re.compile(r"\b(?:sk|rk)_(?:test|live)_[0-9a-zA-Z]{16,}"), trigger=("k_",)),
        Rule("slack-app", re.compile(r"\bxapp-\d-[A-Za-z0-9]+-\d+-[A-Za-z0-9]+"),
             trigger=("xapp-",)),
        Rule("slack-webhook", re.compile(
            r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/]+")),
        Rule("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), trigger=("aiza",)),
        Rule("jwt", re.compile(
            r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), trigger=("eyj",)),
        # whole key blocks, in text or JSON-escaped (\n), also when cut off before the footer
        Rule("private-key", re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=\s:,.-]|\\[nr])*?"
            r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|(?=[\"'<]|$))")),
        Rule("putty-key", re.compile(r"PuTTY-User-Key-File-\d[^\x00]*?(?:Private-MAC: \S+|$)")),
        # an AWS secret access key written next to its key id (CSV, credentials listings)
        Rule("aws-secret-near-id", re.compile(
            r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}[\s,;:|\"'=]{1,6}([A-Za-z0-9/+]{40})"
            r"(?![A-Za-z0-9/+])"), group=1, trigger=("akia", "asia", "abia", "acca")),
        # scheme://user:password@host
        Rule("url-password", re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:([^\s@/]+)@"),
             group=1, trigger=("://",)),
        # Authorization: Bearer x / Basic x / token x / x, X-Api-Key: x
        Rule("auth-header", re.compile(
            r"(?i)\b(?:proxy-)?(?:authorization|x-api-key|api-key|x-auth-token)[\"']?\s*[:=]\s*"
            r"[\"']?(?:(?:bearer|basic|token|apikey|digest|sso-key)\s+)?([^\s\"',;]{6,})"),
            group=1, trigger=("authorization", "api-key", "auth-token")),
        Rule("bearer", re.compile(r"(?i)\b(?:bearer|basic)\s+([A-Za-z0-9\-._~+/]{8,}=*)"),
             group=1, accept=lambda m: not m.group(1).isalpha() or not m.group(1).islower(),
             trigger=("bearer", "basic")),
        # name=value, "name": "value", name: value with a secret-like name
        Rule("keyword", KEYWORD_VALUE, group="value", accept=_keyword_value,
             trigger=_KEYWORD_TRIGGERS),
    ]
    return (*_plugin_rules(), *own)


__all__ = ["KEYWORD_VALUE", "Rule", "Span", "looks_random", "rules", "shannon_entropy"]
