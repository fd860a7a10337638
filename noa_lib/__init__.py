"""NOA Runbooks: the library behind NOA Server's runbook notebooks.

Notebooks import only this facade::

    import noa_lib as noa
    target = noa.load_target(target)
    findings = noa.check_backends(target)
    noa.findings_table(findings)
    noa.record_outcome(findings=findings)

Names resolve lazily (PEP 562) so ``import noa_lib`` stays cheap in a kernel: the SDKs behind a
name are imported the first time that name is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from noa_lib.errors import (
    ClientError,
    ConfigError,
    Conflict,
    NoaError,
    NotFound,
    ParameterError,
    PreconditionFailed,
    StepFailed,
    Timeout,
    Unavailable,
    UnsafeActionRefused,
)

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    # configuration
    "load_config": "noa_lib.config",
    "load_target": "noa_lib.ops.targets",
    "Target": "noa_lib.config",
    # findings and thresholds
    "Finding": "noa_lib.ops.findings",
    "Status": "noa_lib.ops.findings",
    "worst": "noa_lib.ops.findings",
    "require_ok": "noa_lib.ops.findings",
    "THRESHOLDS": "noa_lib.ops.thresholds",
    "threshold": "noa_lib.ops.thresholds",
    # runbook steps
    "check_backends": "noa_lib.ops.connectivity",
    "latency_figures": "noa_lib.ops.connectivity",
    "database_health": "noa_lib.ops.database",
    # backups: dumps and restore drills
    "scan_dumps": "noa_lib.ops.backup.catalog",
    "list_dumps": "noa_lib.ops.backup.catalog",
    "get_dump": "noa_lib.ops.backup.catalog",
    "full_backup": "noa_lib.ops.backup.dump",
    "backup_preflight": "noa_lib.ops.backup.preflight",
    "plan_full_backup": "noa_lib.ops.backup.preflight",
    "backup_report": "noa_lib.ops.backup.preflight",
    "validate_backup": "noa_lib.ops.backup.validate",
    # backups: WAL archiving, base backups, point-in-time recovery
    "archiving_status": "noa_lib.ops.backup.wal",
    "plan_base_backup": "noa_lib.ops.backup.basebackup",
    "plan_archive_setup": "noa_lib.ops.backup.archive_setup",
    "take_base_backup": "noa_lib.ops.backup.basebackup",
    "pitr_window": "noa_lib.ops.backup.pitr_window",
    "plan_pitr": "noa_lib.ops.backup.pitr",
    "pitr_outcome": "noa_lib.ops.backup.pitr",
    "stop_restored_cluster": "noa_lib.ops.backup.pitr_restore",
    # backups: retention and history
    "RetentionPolicy": "noa_lib.ops.backup.retention",
    "plan_retention": "noa_lib.ops.backup.retention",
    "backup_retention": "noa_lib.ops.backup.retention_apply",
    "deletion_budget": "noa_lib.ops.backup.retention_apply",
    "retention_delete_plan": "noa_lib.ops.backup.retention_apply",
    "HistoryThresholds": "noa_lib.ops.backup.history",
    # not in the TYPE_CHECKING block below: import-linter counts those imports, and modules below
    # records that import this package would then appear to import records
    "backup_history": "noa_lib.records.backup_history",
    # monitoring and alerts
    "check_thresholds": "noa_lib.ops.metrics_checks",
    "threshold_figures": "noa_lib.ops.metrics_checks",
    "CATALOGUE": "noa_lib.ops.promql",
    "get_query": "noa_lib.ops.promql",
    "dashboards": "noa_lib.ops.dashboards",
    "board_findings": "noa_lib.ops.dashboards",
    "recent_alerts": "noa_lib.ops.alert_history",
    "triage": "noa_lib.ops.alert_triage",
    "monitoring_stack": "noa_lib.ops.monitoring_stack",
    "dashboard_chart": "noa_lib.show.dashboards",
    "next_runbooks_table": "noa_lib.show.triage",
    # safety
    "Plan": "noa_lib.ops.safety",
    "Change": "noa_lib.ops.safety",
    "apply_plan": "noa_lib.ops.safety",
    # rendering
    "findings_table": "noa_lib.show.findings",
    "target_table": "noa_lib.show.targets",
    "show_plan": "noa_lib.show.plans",
    "record_outcome": "noa_lib.show.outcome",
    "retention_table": "noa_lib.show.retention",
    "gaps_frame": "noa_lib.show.retention",
    "backup_history_chart": "noa_lib.show.charts",
    "backups_table": "noa_lib.show.backups",
    "drill_table": "noa_lib.show.backups",
}

__all__ = [
    "ClientError",
    "ConfigError",
    "Conflict",
    "NoaError",
    "NotFound",
    "ParameterError",
    "PreconditionFailed",
    "StepFailed",
    "Timeout",
    "Unavailable",
    "UnsafeActionRefused",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'noa_lib' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from noa_lib.config import Target, load_config
    from noa_lib.ops.alert_history import recent_alerts
    from noa_lib.ops.alert_triage import triage
    from noa_lib.ops.backup.basebackup import plan_base_backup, take_base_backup
    from noa_lib.ops.backup.catalog import get_dump, list_dumps, scan_dumps
    from noa_lib.ops.backup.dump import full_backup
    from noa_lib.ops.backup.history import HistoryThresholds
    from noa_lib.ops.backup.pitr import pitr_outcome, plan_pitr
    from noa_lib.ops.backup.pitr_restore import stop_restored_cluster
    from noa_lib.ops.backup.pitr_window import pitr_window
    from noa_lib.ops.backup.preflight import backup_preflight, backup_report, plan_full_backup
    from noa_lib.ops.backup.retention import RetentionPolicy, plan_retention
    from noa_lib.ops.backup.retention_apply import (
        backup_retention,
        deletion_budget,
        retention_delete_plan,
    )
    from noa_lib.ops.backup.validate import validate_backup
    from noa_lib.ops.backup.wal import archiving_status
    from noa_lib.ops.connectivity import check_backends, latency_figures
    from noa_lib.ops.dashboards import board_findings, dashboards
    from noa_lib.ops.database import database_health
    from noa_lib.ops.findings import Finding, Status, require_ok, worst
    from noa_lib.ops.metrics_checks import check_thresholds, threshold_figures
    from noa_lib.ops.monitoring_stack import monitoring_stack
    from noa_lib.ops.promql import CATALOGUE, get_query
    from noa_lib.ops.safety import Change, Plan, apply_plan
    from noa_lib.ops.targets import load_target
    from noa_lib.ops.thresholds import THRESHOLDS, threshold
    from noa_lib.show.backups import backups_table, drill_table
    from noa_lib.show.charts import backup_history_chart
    from noa_lib.show.dashboards import dashboard_chart
    from noa_lib.show.findings import findings_table
    from noa_lib.show.outcome import record_outcome
    from noa_lib.show.plans import show_plan
    from noa_lib.show.retention import gaps_frame, retention_table
    from noa_lib.show.targets import target_table
    from noa_lib.show.triage import next_runbooks_table
