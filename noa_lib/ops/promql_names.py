"""Metric and label names inside PromQL text: find them, rename them.

A team's Prometheus may publish NOA's series under other names (``http_requests_total{code=…}``
instead of ``noa_http_requests_total{status=…}``) or with other label names
(``kubernetes_namespace`` instead of ``namespace``). :func:`rename` rewrites a query's metric and
label names by a mapping, token by token, so every query of the catalogue (and every alert rule
built from it) works on that Prometheus unchanged in meaning. :func:`metric_names` lists the
metrics a query reads (what the coverage check probes).

What is a name is decided by PromQL's grammar, not by guessing: strings are never touched except
the label-name arguments of ``label_replace``/``label_join``/``count_values``; identifiers inside
``{…}`` before a match operator are labels; the lists after ``by``, ``without``, ``on``,
``ignoring``, ``group_left`` and ``group_right`` are labels; an identifier followed by ``(`` is a
function or an aggregation; keywords stay; everything else in selector position is a metric name.
Durations in ``[…]`` are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<number>[0-9][0-9A-Za-z_.]*)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<match>=~|!~|!=|==|=)
  | (?P<punct>[(){}\[\],])
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
KEYWORDS = frozenset({
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
    "group_right", "inf", "nan", "Inf", "NaN",
})
AGGREGATIONS = frozenset({
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
    "topk", "quantile", "limitk", "limit_ratio",
})
_GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_LABEL_ARGS: dict[str, Callable[[int], bool]] = {
    "label_replace": lambda i: i in (1, 3),
    "label_join": lambda i: i == 1 or i >= 3,
    "count_values": lambda i: i == 0,
}


@dataclass(frozen=True)
class Token:
    """One lexical token: its kind, its text and, for identifiers and strings, what it names
    (``metric``, ``label``, ``function``, ``keyword`` or ``""``)."""

    kind: str
    text: str
    role: str = ""


def tokens(promql: str) -> list[Token]:
    """The tokens of ``promql``, each identifier (and label-name string) given its role."""
    raw = [(m.lastgroup or "other", m.group()) for m in _TOKEN.finditer(promql)]
    out: list[Token] = []
    braces = 0
    brackets = 0
    grouping_depth: int | None = None  # paren depth of an open by/on/… label list
    depth = 0
    calls: list[tuple[str, int, int]] = []  # (function, depth inside its parens, argument index)
    pending_grouping = False
    for i, (kind, text) in enumerate(raw):
        role = ""
        if kind == "punct":
            if text == "{":
                braces += 1
            elif text == "}":
                braces -= 1
            elif text == "[":
                brackets += 1
            elif text == "]":
                brackets -= 1
            elif text == "(":
                depth += 1
                if pending_grouping:
                    grouping_depth, pending_grouping = depth, False
                else:
                    previous = _previous_ident(out)
                    calls.append((previous or "", depth, 0))
            elif text == ")":
                if grouping_depth == depth:
                    grouping_depth = None
                elif calls and calls[-1][1] == depth:
                    calls.pop()
                depth -= 1
            elif text == "," and calls and calls[-1][1] == depth and braces == 0:
                name, at, index = calls[-1]
                calls[-1] = (name, at, index + 1)
        elif kind == "ident" and brackets == 0:
            nxt = _next_significant(raw, i)
            if braces > 0:
                role = "label" if nxt in ("=", "!=", "=~", "!~") else ""
            elif grouping_depth is not None and depth == grouping_depth:
                role = "label"
            elif text in _GROUPING:
                role, pending_grouping = "keyword", nxt == "("
            elif text in KEYWORDS:
                role = "keyword"
            elif nxt == "(" or (text in AGGREGATIONS and nxt in ("by", "without")):
                role = "function"
            else:
                role = "metric"
        elif kind == "string" and braces == 0 and calls and calls[-1][1] == depth:
            name, _, index = calls[-1]
            if name in _LABEL_ARGS and _LABEL_ARGS[name](index):
                role = "label"
        out.append(Token(kind, text, role))
    return out


def _previous_ident(out: list[Token]) -> str | None:
    for token in reversed(out):
        if token.kind == "ws":
            continue
        return token.text if token.kind == "ident" else None
    return None


def _next_significant(raw: list[tuple[str, str]], i: int) -> str | None:
    for kind, text in raw[i + 1:]:
        if kind != "ws":
            return text
    return None


def rename(promql: str, metrics: Mapping[str, str], labels: Mapping[str, str]) -> str:
    """``promql`` with metric names renamed by ``metrics`` and label names by ``labels``
    (names not in a mapping stay; string label arguments keep their quote style)."""
    if not metrics and not labels:
        return promql
    parts = []
    for token in tokens(promql):
        text = token.text
        if token.role == "metric":
            text = metrics.get(text, text)
        elif token.role == "label" and token.kind == "ident":
            text = labels.get(text, text)
        elif token.role == "label" and token.kind == "string":
            inner = text[1:-1]
            if inner in labels:
                text = f"{text[0]}{labels[inner]}{text[-1]}"
        parts.append(text)
    return "".join(parts)


def metric_names(promql: str) -> tuple[str, ...]:
    """The metric names ``promql`` selects, in order of first appearance."""
    return tuple(dict.fromkeys(t.text for t in tokens(promql) if t.role == "metric"))


def label_names(promql: str) -> tuple[str, ...]:
    """The label names ``promql`` matches, groups or joins on, in order of first appearance."""
    names = []
    for t in tokens(promql):
        if t.role == "label":
            names.append(t.text[1:-1] if t.kind == "string" else t.text)
    return tuple(dict.fromkeys(names))


__all__ = ["AGGREGATIONS", "KEYWORDS", "Token", "label_names", "metric_names", "rename", "tokens"]
