"""Where records live and how they are written: atomically, so a reader never sees half a file."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path


def record_stem(started: datetime, run_id: str) -> str:
    """``<YYYYMMDDTHHMMSSZ>_<run id>``: sorts by time, unique by id."""
    return f"{started.strftime('%Y%m%dT%H%M%SZ')}_{run_id}"


def record_dir(reports_dir: Path, runbook_id: str) -> Path:
    """``<reports>/<area>/<runbook>/``."""
    return reports_dir.joinpath(*runbook_id.split("/"))


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same directory and a rename.

    A crash leaves either the old file, no file, or a ``.tmp`` file that no reader picks up.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["atomic_write_text", "record_dir", "record_stem"]
