"""The monitoring stack and the alert history for notebooks: typed rows from ops, as tables.

:func:`show_scrape_targets` and :func:`show_rules` render
:class:`~noa_lib.ops.monitoring_stack.StackHealth`; :func:`show_alert_episodes` and
:func:`show_active_alerts` render :class:`~noa_lib.ops.alert_history.AlertHistory`. Each table
has its columns even when empty (nothing configured, backend unreachable).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from noa_lib.ops.alert_history import AlertHistory
from noa_lib.ops.monitoring_stack import StackHealth

if TYPE_CHECKING:
    import pandas as pd

TARGET_COLUMNS = ["job", "instance", "health", "last_scrape_age_s", "scrape_interval",
                  "last_error"]
RULE_COLUMNS = ["group", "rule", "type", "health", "state", "last_error"]
EPISODE_COLUMNS = ["alertname", "severity", "labels", "started", "last_seen", "minutes",
                   "firing_now"]
ACTIVE_COLUMNS = ["source", "alertname", "severity", "state", "since", "labels"]


def _frame(rows: Iterable[Any], columns: list[str], title: str) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame([asdict(r) for r in rows], columns=columns)
    frame.attrs["title"] = title
    return frame


def show_scrape_targets(stack: StackHealth) -> pd.DataFrame:
    """One row per active scrape target (:data:`TARGET_COLUMNS`), as Prometheus lists them."""
    return _frame(stack.targets, TARGET_COLUMNS, "scrape targets")


def show_rules(stack: StackHealth) -> pd.DataFrame:
    """One row per recording or alerting rule (:data:`RULE_COLUMNS`), by group."""
    return _frame(stack.rules, RULE_COLUMNS, "rules")


def show_alert_episodes(history: AlertHistory) -> pd.DataFrame:
    """One row per firing episode in the window, oldest first (:data:`EPISODE_COLUMNS`);
    ``started``/``last_seen`` as UTC timestamps."""
    import pandas as pd

    frame = _frame(history.episodes, EPISODE_COLUMNS, "alert episodes")
    for column in ("started", "last_seen"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def show_active_alerts(history: AlertHistory) -> pd.DataFrame:
    """Alerts pending or firing now, Prometheus' first, then Alertmanager's
    (:data:`ACTIVE_COLUMNS`)."""
    return _frame(history.active, ACTIVE_COLUMNS, "active alerts")


__all__ = ["ACTIVE_COLUMNS", "EPISODE_COLUMNS", "RULE_COLUMNS", "TARGET_COLUMNS",
           "show_active_alerts", "show_alert_episodes", "show_rules", "show_scrape_targets"]
