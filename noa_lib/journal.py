"""The kernel-side channel from a running notebook to its record.

A notebook reports its outcome and every applied change by *displaying* a small JSON bundle
under a NOA MIME type. The bundle lands in the notebook's outputs, so it travels with the executed
notebook under papermill, nbval or JupyterLab alike, and the runner lifts it into
``metadata.noa`` without a side channel. Only IPython (already loaded in a kernel) is touched
here; nbformat/papermill are not, so a kernel starts fast. Outside a kernel the bundle is only
logged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

OUTCOME_MIME = "application/vnd.noa.outcome+json"
EVENT_MIME = "application/vnd.noa.event+json"
SECRET_MIME = "application/vnd.noa.secret+json"  # noqa: S105 - a MIME type

log = logging.getLogger(__name__)


def utcnow_iso() -> str:
    """Current UTC time as ISO 8601 with a ``Z`` suffix."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def emit(mime: str, payload: Mapping[str, Any], text: str) -> None:
    """Display ``payload`` under ``mime`` (with ``text`` as the human-readable form)."""
    data = json.loads(json.dumps(payload, default=str))  # JSON-clean, fails loudly on cycles
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # not in a kernel: nothing to attach the bundle to
        log.info("%s", text)
        return
    if get_ipython() is None:
        log.info("%s", text)
        return
    display({mime: data, "text/plain": text}, raw=True)  # type: ignore[no-untyped-call]


def emit_event(kind: str, **fields: Any) -> None:
    """Record a timeline event (e.g. ``change-applied``) in the running notebook's record."""
    payload = {"kind": kind, "at": utcnow_iso(), **fields}
    summary = fields.get("summary", "")
    emit(EVENT_MIME, payload, f"[timeline] {kind}: {summary}")


def secret_digest(value: str) -> str:
    """The SHA-256 (hex) by which a registered secret is recognised."""
    return hashlib.sha256(value.encode()).hexdigest()


def register_secret(value: str) -> None:
    """Tell the record's redactor about a secret made during the run (a generated password).

    Only SHA-256 digests of ``value`` and of its base64 form (as a Kubernetes Secret holds it)
    travel, with their lengths; the runner masks every token of the record with a matching
    digest, so the value itself is never displayed, not even to be masked.
    """
    forms = [value, base64.b64encode(value.encode()).decode()]
    payload = {"sha256": [secret_digest(f) for f in forms], "lengths": [len(f) for f in forms]}
    emit(SECRET_MIME, payload, "[secret registered with the record's redactor]")


__all__ = ["EVENT_MIME", "OUTCOME_MIME", "SECRET_MIME", "emit", "emit_event", "register_secret",
           "secret_digest", "utcnow_iso"]
