"""Parsing log lines: NOA Server's JSON lines, with a plain-text fallback.

A line as the Kubernetes API returns it with ``timestamps=true`` starts with an RFC 3339 time
(``2026-11-27T01:02:03.123456789Z {"level": "error", …}``). The JSON object's ``level``
(``severity``, ``lvl``), ``msg`` (``message``) and ``ts`` (``time``, ``timestamp``,
``@timestamp``) are understood; a plain-text line gets its level from the first level word in it
(``ERROR``, ``WARN``, ``Traceback``…) and its time from the prefix or a leading ISO time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from noa_lib.errors import ParameterError

LEVELS = ("debug", "info", "warning", "error", "critical")
"""Log levels from least to most severe (aliases are mapped onto these)."""
_ALIASES = {
    "trace": "debug", "debug": "debug", "info": "info", "information": "info",
    "notice": "info", "warn": "warning", "warning": "warning", "err": "error",
    "error": "error", "exception": "error", "crit": "critical", "critical": "critical",
    "fatal": "critical", "panic": "critical", "emerg": "critical", "alert": "critical",
}
_PREFIX_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))\s")
_ISO_RE = re.compile(
    r"^\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\]?\s*"
)
_LEVEL_WORD_RE = re.compile(
    r"\b(TRACE|DEBUG|INFO|NOTICE|WARN(?:ING)?|ERR(?:OR)?|CRIT(?:ICAL)?|FATAL|PANIC)\b", re.I
)
_CRASH_RE = re.compile(r"^(Traceback \(most recent call last\)|\w+(Error|Exception)\b|Killed\b)")


@dataclass(frozen=True)
class LogLine:
    """One parsed log line of one pod's container."""

    time: datetime | None
    level: str
    message: str
    pod: str
    container: str = ""
    previous: bool = False
    logger: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)
    raw: str = ""


def level_rank(level: str) -> int:
    """Index of ``level`` in :data:`LEVELS` (unknown levels rank as ``info``)."""
    name = _ALIASES.get(level.lower(), "info")
    return LEVELS.index(name)


def check_level(level: str, parameter: str = "min_level") -> str:
    """The canonical name of ``level``.

    Raises:
        ParameterError: not a known level (the message lists them).
    """
    name = _ALIASES.get(str(level).strip().lower()) if isinstance(level, str) else None
    if name is None:
        raise ParameterError(f"{parameter}={level!r} is not a log level", name=parameter,
                             accepted=", ".join(LEVELS))
    return name


def parse_time(text: str) -> datetime | None:
    """A timezone-aware datetime from an ISO 8601 / RFC 3339 text (nanoseconds cut), or None."""
    cleaned = text.strip().replace(" ", "T", 1).replace(",", ".")
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    match = re.match(r"^(.*T\d{2}:\d{2}:\d{2})(\.\d+)?(.*)$", cleaned)
    if match:  # Python parses at most 6 fractional digits
        fraction = (match.group(2) or "")[:7]
        cleaned = match.group(1) + fraction + match.group(3)
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_line(text: str, *, pod: str, container: str = "", previous: bool = False
               ) -> LogLine | None:
    """Parse one line (``None`` for a blank one)."""
    raw = text.rstrip("\n")
    body = raw
    moment: datetime | None = None
    prefix = _PREFIX_RE.match(body)
    if prefix:
        moment = parse_time(prefix.group(1))
        body = body[prefix.end():]
    if not body.strip():
        return None
    stripped = body.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            return _from_json(obj, moment, raw, pod, container, previous)
    return _from_text(stripped, moment, raw, pod, container, previous)


def _first(obj: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if obj.get(key) not in (None, ""):
            return obj[key]
    return None


def _from_json(obj: Mapping[str, Any], moment: datetime | None, raw: str, pod: str,
               container: str, previous: bool) -> LogLine:
    level = str(_first(obj, "level", "severity", "lvl", "levelname") or "info")
    message = _first(obj, "msg", "message", "event", "error")
    when = _first(obj, "ts", "time", "timestamp", "@timestamp")
    parsed = parse_time(str(when)) if isinstance(when, str) else None
    rest = {k: v for k, v in obj.items()
            if k not in ("level", "severity", "lvl", "levelname", "msg", "message", "ts",
                         "time", "timestamp", "@timestamp", "logger")}
    return LogLine(
        time=parsed or moment,
        level=_ALIASES.get(level.lower(), "info"),
        message=str(message) if message is not None else json.dumps(rest, sort_keys=True),
        pod=pod, container=container, previous=previous,
        logger=str(obj.get("logger") or ""),
        fields=rest, raw=raw,
    )


def _from_text(body: str, moment: datetime | None, raw: str, pod: str, container: str,
               previous: bool) -> LogLine:
    iso = _ISO_RE.match(body)
    if iso:
        moment = moment or parse_time(iso.group(1))
        body = body[iso.end():]
    word = _LEVEL_WORD_RE.search(body[:80])
    if word:
        level = _ALIASES.get(word.group(1).lower(), "info")
    elif _CRASH_RE.match(body):
        level = "error"
    else:
        level = "info"
    return LogLine(time=moment, level=level, message=body.strip(), pod=pod,
                   container=container, previous=previous, raw=raw)


def parse_text(text: str, *, pod: str, container: str = "", previous: bool = False
               ) -> Iterator[LogLine]:
    """Every non-blank line of a log text, parsed."""
    for line in text.splitlines():
        parsed = parse_line(line, pod=pod, container=container, previous=previous)
        if parsed is not None:
            yield parsed


def keep(lines: Iterable[LogLine], *, min_level: str = "error", grep: str = "",
         since: datetime | None = None) -> list[LogLine]:
    """Lines at or above ``min_level``, containing ``grep`` (case-insensitive; a regular
    expression when it compiles as one), at or after ``since`` (lines without time are kept).

    Raises:
        ParameterError: unknown level.
    """
    floor = LEVELS.index(check_level(min_level))
    pattern: re.Pattern[str] | None = None
    if grep:
        try:
            pattern = re.compile(grep, re.I)
        except re.error:
            pattern = re.compile(re.escape(grep), re.I)
    out = []
    for line in lines:
        if level_rank(line.level) < floor:
            continue
        if pattern is not None and not pattern.search(line.message) and not pattern.search(
                line.raw):
            continue
        if since is not None and line.time is not None and line.time < since:
            continue
        out.append(line)
    return out


__all__ = ["LEVELS", "LogLine", "check_level", "keep", "level_rank", "parse_line",
           "parse_text", "parse_time"]
