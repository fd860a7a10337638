"""Where records live: ``<reports>/<area>/<runbook>/<UTC time>_<run id>``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path


def record_stem(started: datetime, run_id: str) -> str:
    """``<YYYYMMDDTHHMMSSZ>_<run id>``: sorts by time, unique by id."""
    return f"{started.strftime('%Y%m%dT%H%M%SZ')}_{run_id}"


def record_dir(reports_dir: Path, runbook_id: str) -> Path:
    """``<reports>/<area>/<runbook>/``."""
    return reports_dir.joinpath(*runbook_id.split("/"))


__all__ = ["record_dir", "record_stem"]
