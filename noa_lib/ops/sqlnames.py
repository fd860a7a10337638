"""Qualified SQL names written by people (``schema.table.column``), read as PostgreSQL reads them.

A name a user types (a runbook parameter such as ``timestamp_columns``) is parsed like
PostgreSQL's ``parse_ident()``: dots separate the parts only outside double quotes, a quoted part
keeps its exact spelling (``""`` is one ``"``), an unquoted part is folded to lower case. The
names found in the catalog never go through here: statements get them as
``psycopg.sql.Identifier`` and lookups compare them as parameters.
"""

from __future__ import annotations

from noa_lib.errors import ParameterError


def parse_qualified(text: str, *, name: str, accepted: str) -> tuple[str, ...]:
    """The parts of the qualified name ``text`` (``a."B.c"`` is ``("a", "B.c")``).

    ``name``/``accepted`` describe the parameter in the error.

    Raises:
        ParameterError: an empty part, an unterminated quote, or text after a closing quote.
    """
    parts: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i < n and text[i] == '"':
            part, i = _quoted(text, i, name, accepted)
        else:
            start = i
            while i < n and text[i] != "." and not text[i].isspace() and text[i] != '"':
                i += 1
            part = _fold(text[start:i])
        if not part:
            raise _error(text, "an empty name", name, accepted)
        parts.append(part)
        while i < n and text[i].isspace():
            i += 1
        if i == n:
            return tuple(parts)
        if text[i] != ".":
            raise _error(text, f"unexpected {text[i]!r} at position {i}", name, accepted)
        i += 1


def _quoted(text: str, i: int, name: str, accepted: str) -> tuple[str, int]:
    chars: list[str] = []
    i += 1
    while i < len(text):
        if text[i] == '"':
            if i + 1 < len(text) and text[i + 1] == '"':
                chars.append('"')
                i += 2
                continue
            return "".join(chars), i + 1
        chars.append(text[i])
        i += 1
    raise _error(text, "an unterminated quote", name, accepted)


def _fold(part: str) -> str:
    # PostgreSQL folds only ASCII letters of unquoted identifiers in multi-byte encodings
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in part)


def _error(text: str, problem: str, name: str, accepted: str) -> ParameterError:
    return ParameterError(
        f"{name} {text!r} is not valid ({problem}); accepted: {accepted} "
        '(double-quote names with dots, spaces or capitals: "My Schema"."Events".created_at)',
        name=name,
        accepted=accepted,
    )


__all__ = ["parse_qualified"]
