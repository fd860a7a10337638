"""How the ``noa`` command talks to its user: messages on stderr, tables on stdout (also for
the commands other distributions add)."""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from noa_lib.records.redaction import Redactor


def say(message: str) -> None:
    """Tell the user ``message`` on stderr, prefixed ``noa:`` (for plugins too), secrets masked
    (an error can quote a value the user or a backend gave)."""
    print(f"noa: {_redactor().text(message)}", file=sys.stderr, flush=True)


@functools.cache
def _redactor() -> Redactor:
    from noa_lib.records.redaction import default_redactor

    return default_redactor()


def table(rows: list[dict[str, Any]], columns: list[str], widths: dict[str, int] | None = None
          ) -> None:
    """Print ``rows`` as aligned columns (a column in ``widths`` is cut to that many characters)."""
    limits = widths or {}

    def cell(row: dict[str, Any], col: str) -> str:
        text = str(row.get(col, ""))
        limit = limits.get(col)
        return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"

    sizes = {c: max([len(c)] + [len(cell(r, c)) for r in rows]) for c in columns}
    print("  ".join(c.upper().ljust(sizes[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(cell(row, c).ljust(sizes[c]) for c in columns).rstrip())


__all__ = ["say", "table"]
