"""Field checks shared by the dump and the base-backup manifests (pure, no I/O).

Both manifests are JSON objects written last by their backup; a reader trusts one only after
every required field is present with its type, the checksum is well formed and the times parse.
Messages name the field, so a "manifest invalid: …" reason says what to look at.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

FieldTypes = type | tuple[type, ...]

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (``Z`` or offset; naive = UTC) as an aware UTC datetime.

    Raises:
        ValueError: not ISO 8601.
    """
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def require_fields(data: Any, required: Mapping[str, FieldTypes]) -> dict[str, Any]:
    """``data`` as a dict once each ``required`` field is present (not null) with its type
    (a JSON boolean never passes for a number).

    Raises:
        ValueError: not an object, or the first missing / mistyped field, named.
    """
    if not isinstance(data, dict):
        raise ValueError("the manifest is not a JSON object")
    for name, types in required.items():
        if data.get(name) is None:
            raise ValueError(f"field {name!r} is missing")
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, types):
            raise ValueError(f"field {name!r} has the wrong type ({type(value).__name__}, "
                             f"expected {_type_names(types)})")
    return data


def check_sha256(value: str) -> str:
    """``value`` when it is 64 lowercase hexadecimal digits.

    Raises:
        ValueError: otherwise.
    """
    if not _SHA_RE.match(value):
        raise ValueError("sha256 is not 64 lowercase hex digits")
    return value


def time_span(data: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """``started_at`` and ``ended_at`` as aware UTC datetimes.

    Raises:
        ValueError: either is not ISO 8601.
    """
    try:
        return parse_time(data["started_at"]), parse_time(data["ended_at"])
    except ValueError:
        raise ValueError("started_at/ended_at are not ISO 8601 times") from None


def _type_names(types: FieldTypes) -> str:
    if isinstance(types, tuple):
        return " or ".join(t.__name__ for t in types)
    return types.__name__


__all__ = ["FieldTypes", "check_sha256", "parse_time", "require_fields", "time_span"]
