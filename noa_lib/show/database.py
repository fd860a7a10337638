"""PostgreSQL health for a notebook: the typed rows of :func:`~noa_lib.ops.database.database_health`
as tables.

Each table has its columns (:data:`~noa_lib.ops.database.LONG_QUERY_COLUMNS`,
:data:`~noa_lib.ops.database.BLOAT_COLUMNS`, :data:`~noa_lib.ops.database.BY_STATE_COLUMNS`)
even when empty (nothing found, PostgreSQL not configured or unreachable).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from noa_lib.ops.database import (
    BLOAT_COLUMNS,
    BY_STATE_COLUMNS,
    LONG_QUERY_COLUMNS,
    DatabaseHealth,
)

if TYPE_CHECKING:
    import pandas as pd


def _frame(rows: Iterable[Any], columns: list[str], title: str) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame([asdict(r) for r in rows], columns=columns)
    frame.attrs["title"] = title
    return frame


def show_long_queries(health: DatabaseHealth | None) -> pd.DataFrame:
    """One row per long-running query (:data:`~noa_lib.ops.database.LONG_QUERY_COLUMNS`),
    longest first as PostgreSQL returned them; empty for ``None`` (not read)."""
    rows = health.long_queries if health is not None else ()
    return _frame(rows, LONG_QUERY_COLUMNS, "long-running queries")


def show_bloat(health: DatabaseHealth | None) -> pd.DataFrame:
    """The top tables by dead-tuple ratio (:data:`~noa_lib.ops.database.BLOAT_COLUMNS`); empty
    for ``None``."""
    rows = health.bloat if health is not None else ()
    return _frame(rows, BLOAT_COLUMNS, "table bloat")


def show_connections_by_state(health: DatabaseHealth | None) -> pd.DataFrame:
    """Connections per database and state (:data:`~noa_lib.ops.database.BY_STATE_COLUMNS`);
    empty for ``None``."""
    rows = health.connections_by_state if health is not None else ()
    return _frame(rows, BY_STATE_COLUMNS, "connections by state")


__all__ = ["show_bloat", "show_connections_by_state", "show_long_queries"]
