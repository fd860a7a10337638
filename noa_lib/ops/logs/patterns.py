"""Log messages normalized into patterns, grouped and counted.

:func:`normalize` replaces the parts of a message that vary between occurrences of the same
problem with placeholders, in this order (earlier rules win):

==============  ======================================================  ===============
placeholder     what                                                    example
==============  ======================================================  ===============
``<ts>``        ISO 8601 times                                           2026-11-27T01:02:03Z
``<id>``        UUIDs, hex ids of 8+ characters with a digit, 0x… hex    7f3a9c0e-…, 0x1f
``<pod>``       Kubernetes pod names (``<name>-<template hash>-<5>``)     api-7d9f8c6b5-x2kqz
``<ip>``        IPv4 addresses (with an optional port)                   10.0.3.7:5432
``<url>``       URLs                                                     https://api.x/v1?a=1
``<duration>``  a number with a time unit                                2345 ms, 1.5s, 30m
``<s>``         quoted strings                                           'choices', "x y"
``<n>``         any other number (also after ``-``/``_``: worker-3)        503, 20, 30.00
==============  ======================================================  ===============

:func:`group` counts lines per (level, pattern): share of all lines, first and last seen, pods,
one example. The counts over time are a table, so they are built in
:func:`noa_lib.show.logs.per_minute`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from noa_lib.ops.logs.parse import LogLine, level_rank

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
     "<ts>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
     "<id>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<id>"),
    (re.compile(r"\b[a-z][a-z0-9-]*-[a-z0-9]{6,10}-[a-z0-9]{5}\b"), "<pod>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<id>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b"), "<ip>"),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.I), "<url>"),
    (re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ns|µs|us|ms|s|sec|secs|seconds|m|min|mins|"
                r"minutes|h|hours)\b"), "<duration>"),
    (re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\""), "<s>"),
    (re.compile(r"(?<![\w<])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w>])"), "<n>"),
    (re.compile(r"(?<=[-_])\d+\b"), "<n>"),
)
_SPACE_RE = re.compile(r"\s+")
MAX_PATTERN = 200
"""Characters of a pattern kept (long stack-trace lines are cut)."""


def normalize(message: str) -> str:
    """The pattern of ``message``: variable parts replaced by placeholders, whitespace collapsed,
    at most :data:`MAX_PATTERN` characters."""
    text = message
    for pattern, placeholder in _RULES:
        text = pattern.sub(placeholder, text)
    text = _SPACE_RE.sub(" ", text).strip()
    return text if len(text) <= MAX_PATTERN else text[: MAX_PATTERN - 1] + "…"


@dataclass(frozen=True)
class PatternGroup:
    """Lines sharing one (level, pattern): how many, which share, when, where, an example."""

    pattern: str
    level: str
    count: int
    share: float
    first: datetime | None
    last: datetime | None
    pods: tuple[str, ...]
    example: str
    previous: int = 0
    """Lines of this pattern that came from a previous (crashed) container."""


def group(lines: Sequence[LogLine], *, top: int | None = None) -> list[PatternGroup]:
    """Group ``lines`` by (level, pattern), most frequent first (ties: most severe first).

    ``share`` is the group's fraction of ``lines``; ``top`` keeps only the first groups.
    """
    buckets: dict[tuple[str, str], list[LogLine]] = {}
    for line in lines:
        buckets.setdefault((line.level, normalize(line.message)), []).append(line)
    total = len(lines) or 1
    groups = []
    for (level, pattern), members in buckets.items():
        times = [m.time for m in members if m.time is not None]
        groups.append(PatternGroup(
            pattern=pattern,
            level=level,
            count=len(members),
            share=len(members) / total,
            first=min(times) if times else None,
            last=max(times) if times else None,
            pods=tuple(sorted({m.pod for m in members})),
            example=members[-1].message,
            previous=sum(m.previous for m in members),
        ))
    groups.sort(key=lambda g: (-g.count, -level_rank(g.level), g.pattern))
    return groups[:top] if top is not None else groups


__all__ = ["MAX_PATTERN", "PatternGroup", "group", "normalize"]
