"""Rendering an incident update and its notifications for a notebook (no I/O)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from noa_lib.ops.incident_comms import IncidentUpdate
from noa_lib.ops.notify import Delivery
from noa_lib.ops.notify_payloads import NotificationRequest

if TYPE_CHECKING:
    import pandas as pd


class UpdateView:
    """The internal update and the status-page text, side by side (Markdown in a notebook)."""

    def __init__(self, update: IncidentUpdate) -> None:
        self.update = update

    def _repr_markdown_(self) -> str:
        u = self.update
        cadence = f"every {u.cadence_minutes} min" if u.cadence_minutes else "on change"
        return (f"**Phase:** {u.phase} · **cadence:** {cadence} · **next update due:** "
                f"{u.figures()['next_update_due'] or '—'}\n\n"
                f"#### Internal update\n\n```\n{u.internal_text}\n```\n\n"
                f"#### Status page — {u.status_page_title} ({u.status_page_status})\n\n"
                f"> {u.status_page_text}\n")

    def __repr__(self) -> str:
        u = self.update
        return (f"{u.internal_text}\n\nStatus page ({u.status_page_status}): "
                f"{u.status_page_title} — {u.status_page_text}")


def show_update(update: IncidentUpdate) -> UpdateView:
    """The update as a notebook shows it."""
    return UpdateView(update)


def notification_plan_table(requests: Sequence[NotificationRequest]) -> pd.DataFrame:
    """One row per request: sink, method, path and the body with secrets masked."""
    import pandas as pd

    rows: list[dict[str, Any]] = [
        {"sink": r.sink, "kind": r.kind, "request": f"{r.method} {r.path or '/'}",
         "headers": json.dumps(r.masked_headers()),
         "body": json.dumps(r.masked_body(), ensure_ascii=False)}
        for r in requests
    ]
    return pd.DataFrame(rows, columns=["sink", "kind", "request", "headers", "body"])


def deliveries_table(deliveries: Sequence[Delivery]) -> pd.DataFrame:
    """One row per sink: what was (or would be) sent and how it went."""
    import pandas as pd

    return pd.DataFrame([d.as_row() for d in deliveries],
                        columns=["sink", "kind", "request", "what", "outcome", "http", "error"])


__all__ = ["deliveries_table", "notification_plan_table", "show_update"]
