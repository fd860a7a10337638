"""What a record's ``metadata.noa`` holds, and how to read it from a record file quickly.

A record is ``<root>/<area>/<runbook>/<YYYYMMDDTHHMMSSZ>_<run id>.ipynb``; the runner stores the
run's description (already redacted) in the notebook's top-level ``metadata.noa``. The TypedDicts
below document that shape for type checkers; every key is optional because records written by
older runners may lack some of them.

Record files are read with plain :mod:`json` (``nbformat`` costs seconds to import). Notebooks are
written with ``indent=1`` and sorted keys, so the top-level ``"metadata"`` key sits near the end of
the file on a line indented by exactly one space; :func:`read_record_metadata` decodes just that
object from the file's tail and falls back to parsing the whole file when the layout differs.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict

SCHEMA = 1
"""Version of the ``metadata.noa`` layout written by the runner."""

RunStatus = Literal["succeeded", "failed", "stopped-early"]
OutcomeStatus = Literal["ok", "warning", "critical", "unreachable"]
TriggerKind = Literal["manual", "cron", "alert"]


class SourceMeta(TypedDict, total=False):
    path: str
    sha256: str


class TriggerMeta(TypedDict, total=False):
    kind: TriggerKind
    fingerprint: str | None


class ErrorMeta(TypedDict, total=False):
    ename: str
    evalue: str
    cell: int


class OutcomeMeta(TypedDict, total=False):
    status: OutcomeStatus | None
    summary: str
    figures: dict[str, Any]
    findings: list[dict[str, Any]]


class TimelineEntry(TypedDict, total=False):
    kind: str
    at: str
    summary: str


class RecordPaths(TypedDict, total=False):
    ipynb: str  # relative to the reports root
    html: str


class RecordMeta(TypedDict, total=False):
    """The ``metadata.noa`` dict of one record."""

    schema: int
    run_id: str
    runbook: str  # "<area>/<name>"
    area: str
    source: SourceMeta
    git_commit: str | None
    target: str
    operator: str
    trigger: TriggerMeta
    incident: str | None  # id of the incident the run belongs to (``INC-…``)
    started_at: str  # ISO 8601, UTC ("…Z")
    ended_at: str | None
    duration_s: float | None
    status: RunStatus
    exit_code: int | None
    error: ErrorMeta | None
    parameters: dict[str, Any]
    outcome: OutcomeMeta
    timeline: list[TimelineEntry]
    record: RecordPaths


_FILE_TIME_RE = re.compile(r"^(\d{8}T\d{6}Z)_")
_TAIL_BYTES = 256 * 1024
_TOP_METADATA_KEY = b'\n "metadata": '


def current_operator() -> str:
    """Who acts: ``NOA_OPERATOR`` when set, else ``user@host`` (in records and incidents)."""
    return os.environ.get("NOA_OPERATOR") or f"{getpass.getuser()}@{socket.gethostname()}"


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO 8601 timestamp into an aware UTC datetime (naive input is taken as UTC).

    Raises ``ValueError`` when ``value`` is not ISO 8601.
    """
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """Fixed-width UTC text (``2026-11-26T22:15:00.123456Z``) that sorts like the instants it names.

    Naive datetimes are taken as UTC.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def time_from_filename(name: str) -> datetime | None:
    """The start time in a record's file name (``20261126T221500Z_<run id>.ipynb``), if any."""
    match = _FILE_TIME_RE.match(name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def read_record_metadata(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """``metadata.noa`` of the notebook at ``path``, or ``None`` when the notebook has none.

    Raises ``OSError`` when the file cannot be read and ``ValueError`` when it is not a notebook
    (invalid JSON or UTF-8, or not a JSON object).
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > _TAIL_BYTES:
            handle.seek(size - _TAIL_BYTES)
        tail = handle.read()
        found = _noa_from_tail(tail)
        if found is not _MISSING:
            return found if isinstance(found, dict) else None
        if size > _TAIL_BYTES:
            handle.seek(0)
            data = handle.read()
        else:
            data = tail
    notebook = json.loads(data)
    if not isinstance(notebook, dict):
        raise ValueError(f"{path} is not a notebook (top-level JSON is not an object)")
    metadata = notebook.get("metadata")
    noa = metadata.get("noa") if isinstance(metadata, dict) else None
    return noa if isinstance(noa, dict) else None


_MISSING: Any = object()
_DECODER = json.JSONDecoder()


def _noa_from_tail(tail: bytes) -> Any:
    """``metadata.noa`` decoded from the tail of an ``indent=1`` notebook, else ``_MISSING``.

    A raw newline cannot occur inside a JSON string, so ``\\n "metadata": `` (one space of indent)
    is necessarily the notebook's top-level key. The whole-file parse remains the fallback, so any
    surprise here costs speed, never correctness.
    """
    at = tail.rfind(_TOP_METADATA_KEY)
    if at < 0 or not tail.rstrip().endswith(b"}"):
        return _MISSING
    try:
        text = tail[at + len(_TOP_METADATA_KEY) :].decode("utf-8")
        metadata, end = _DECODER.raw_decode(text)
    except ValueError:
        return _MISSING
    # What follows must close the notebook or continue with its remaining top-level keys.
    rest = text[end:].lstrip()
    if not isinstance(metadata, dict) or not (rest.startswith(",") or rest.startswith("}")):
        return _MISSING
    return metadata.get("noa")
