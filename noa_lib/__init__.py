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
    "check_coverage": "noa_lib.ops.coverage",
    "dashboard_chart": "noa_lib.show.dashboards",
    "next_runbooks_table": "noa_lib.show.triage",
    "show_triage_rollouts": "noa_lib.show.triage",
    "show_triage_long_queries": "noa_lib.show.triage",
    "show_triage_connections": "noa_lib.show.triage",
    "show_scrape_targets": "noa_lib.show.monitoring",
    "show_rules": "noa_lib.show.monitoring",
    "show_alert_episodes": "noa_lib.show.monitoring",
    "show_active_alerts": "noa_lib.show.monitoring",
    "show_long_queries": "noa_lib.show.database",
    "show_bloat": "noa_lib.show.database",
    "show_connections_by_state": "noa_lib.show.database",
    "show_base_backups": "noa_lib.show.pitr",
    "show_wal_timelines": "noa_lib.show.pitr",
    "show_pitr_window": "noa_lib.show.pitr",
    "show_row_counts": "noa_lib.show.pitr",
    # deployment: canary analysis, names
    "analysis_spec": "noa_lib.ops.deploy.analysis",
    "default_metrics": "noa_lib.ops.deploy.analysis",
    "run_analysis": "noa_lib.ops.deploy.analysis",
    "skipped_analysis": "noa_lib.ops.deploy.analysis",
    "validate_name": "noa_lib.ops.names",
    "analysis_table": "noa_lib.show.analysis",
    "pre_deployment_checklist": "noa_lib.ops.deploy.checklist",
    "require_go": "noa_lib.ops.deploy.checklist",
    "checklist_table": "noa_lib.show.deploy_checks",
    "verdict_banner": "noa_lib.show.deploy_checks",
    "show_deploy_evidence": "noa_lib.show.deploy_checks",
    "post_deployment_verification": "noa_lib.ops.deploy.verification",
    # not in the TYPE_CHECKING block (records layer, see backup_history)
    "deploy_evidence": "noa_lib.records.deploy_evidence",
    # logs
    "investigate_logs": "noa_lib.ops.logs.investigate",
    "patterns_table": "noa_lib.show.logs",
    "log_timeline_chart": "noa_lib.show.logs",
    "sources_frame": "noa_lib.show.logs",
    "log_timeline": "noa_lib.show.logs",
    # deployment: rolling update, rollback, canary, blue-green (H3)
    "image_change": "noa_lib.ops.deploy.rollout",
    "watch_rollout": "noa_lib.ops.deploy.rollout",
    "revision_history": "noa_lib.ops.deploy.revisions",
    "undo_plan": "noa_lib.ops.deploy.revisions",
    "undo_offer": "noa_lib.ops.deploy.revisions",
    "config_history": "noa_lib.ops.deploy.configmaps",
    "config_change_plan": "noa_lib.ops.deploy.configmaps",
    "config_restore_plan": "noa_lib.ops.deploy.configmaps",
    "plan_canary": "noa_lib.ops.deploy.canary",
    "run_canary": "noa_lib.ops.deploy.canary",
    "plan_blue_green": "noa_lib.ops.deploy.bluegreen",
    "run_blue_green": "noa_lib.ops.deploy.bluegreen",
    "decommission_plan": "noa_lib.ops.deploy.bluegreen_slots",
    "verify_rollback": "noa_lib.ops.deploy.rollback",
    "rollout_table": "noa_lib.show.rollouts",
    "status_table": "noa_lib.show.rollouts",
    "revisions_table": "noa_lib.show.rollouts",
    "config_versions_table": "noa_lib.show.rollouts",
    "traffic_table": "noa_lib.show.rollouts",
    "phases_table": "noa_lib.show.rollouts",
    "slots_table": "noa_lib.show.rollouts",
    "show_plans": "noa_lib.show.rollouts",
    "handoff_table": "noa_lib.show.rollouts",
    "analyses_table": "noa_lib.show.rollouts",
    # records-backed (not in the TYPE_CHECKING block, like backup_history)
    "plan_rollback": "noa_lib.records.rollback",
    "latest_deploy": "noa_lib.records.deploy_history",
    # incidents (records-backed ones not in the TYPE_CHECKING block, like backup_history)
    "IncidentStore": "noa_lib.records.incidents",
    "incident_timeline": "noa_lib.records.incident_timeline",
    "SeveritySignals": "noa_lib.ops.severity",
    "classify_severity": "noa_lib.ops.severity",
    "post_incident_review": "noa_lib.records.incident_review",
    "write_review_draft": "noa_lib.records.incident_review",
    "oncall_handoff": "noa_lib.records.oncall_handoff",
    "show_review": "noa_lib.show.postmortem",
    "review_markdown": "noa_lib.show.postmortem",
    "review_timeline_table": "noa_lib.show.postmortem",
    "review_times_table": "noa_lib.show.postmortem",
    "handoff_incidents_table": "noa_lib.show.handoff",
    "handoff_failed_runs_table": "noa_lib.show.handoff",
    "handoff_actions_table": "noa_lib.show.handoff",
    # incident communication (records-backed ones not in the TYPE_CHECKING block)
    "incident_update_for": "noa_lib.records.incident_comms",
    "statuspage_ids": "noa_lib.records.incident_comms",
    "incident_update": "noa_lib.ops.incident_comms",
    "plan_notifications": "noa_lib.ops.notify",
    "send_notifications": "noa_lib.ops.notify",
    "delivery_figures": "noa_lib.ops.notify",
    "show_update": "noa_lib.show.notifications",
    "notification_plan_table": "noa_lib.show.notifications",
    "deliveries_table": "noa_lib.show.notifications",
    # incident triage (records-backed: not in the TYPE_CHECKING block)
    "incident_triage": "noa_lib.records.incident_triage",
    "triage_incident": "noa_lib.ops.incident_triage",
    "rank_causes": "noa_lib.ops.triage_causes",
    "triage_severity_table": "noa_lib.show.incident_triage",
    "triage_impact_table": "noa_lib.show.incident_triage",
    "triage_changes_table": "noa_lib.show.incident_triage",
    "triage_patterns_table": "noa_lib.show.incident_triage",
    "triage_causes_table": "noa_lib.show.incident_triage",
    # incident drills (records-backed: not in the TYPE_CHECKING block)
    "plan_drill": "noa_lib.records.drill",
    "run_drill": "noa_lib.records.drill",
    "score_drill": "noa_lib.ops.drill_score",
    "drill_plan_table": "noa_lib.show.drill",
    "drill_score_table": "noa_lib.show.drill",
    "drill_runs_table": "noa_lib.show.drill",
    # mitigations (diagnose → plan → apply → verify → revert)
    "Mitigation": "noa_lib.ops.mitigation",
    "Verdict": "noa_lib.ops.mitigation",
    "run_mitigation": "noa_lib.ops.mitigation",
    "record_mitigation": "noa_lib.records.incident_status",
    # incident/security_breach (rotate a compromised credential)
    "diagnose_credential": "noa_lib.ops.credentials.breach",
    "plan_credential_mitigation": "noa_lib.ops.credentials.breach",
    "credential_users_table": "noa_lib.show.credentials",
    "credential_touched_table": "noa_lib.show.credentials",
    # incident/db_pool_exhausted and incident/high_latency (database sessions, restart, scale)
    "query_redactor": "noa_lib.records.redaction",
    "diagnose_pool": "noa_lib.ops.db_pool",
    "pool_mitigation": "noa_lib.ops.db_pool",
    "restart_mitigation": "noa_lib.ops.db_pool",
    "decisive_outcome": "noa_lib.ops.db_pool",
    "diagnose_latency": "noa_lib.ops.latency",
    "latency_mitigation": "noa_lib.ops.latency",
    "read_sessions": "noa_lib.ops.pg_sessions",
    "select_sessions": "noa_lib.ops.pg_sessions",
    "terminate_plan": "noa_lib.ops.pg_sessions",
    "restart_plan": "noa_lib.ops.restart",
    "scale_plan": "noa_lib.ops.restart",
    "scale_target": "noa_lib.ops.restart",
    "sessions_table": "noa_lib.show.pg_sessions",
    "sessions_by_state_table": "noa_lib.show.pg_sessions",
    "candidates_table": "noa_lib.show.pg_sessions",
    "lock_waits_table": "noa_lib.show.pg_sessions",
    "slow_statements_table": "noa_lib.show.pg_sessions",
    "statements_table": "noa_lib.show.pg_sessions",
    # incident/oom_kills, incident/disk_space (resource mitigations)
    "oom_parameters": "noa_lib.ops.resources.oom_rules",
    "diagnose_oom": "noa_lib.ops.resources.oom",
    "plan_oom_mitigation": "noa_lib.ops.resources.oom_plan",
    "disk_parameters": "noa_lib.ops.resources.disk_rules",
    "diagnose_disk": "noa_lib.ops.resources.disk",
    "plan_disk_mitigation": "noa_lib.ops.resources.disk",
    "oom_pods_table": "noa_lib.show.resources",
    "memory_trend_chart": "noa_lib.show.resources",
    "disk_trend_chart": "noa_lib.show.resources",
    "cleanup_table": "noa_lib.show.resources",
    # incident/high_error_rate, incident/complete_outage (release incidents)
    "diagnose_error_rate": "noa_lib.ops.error_rate",
    "error_rate_mitigation": "noa_lib.ops.error_rate",
    "diagnose_outage": "noa_lib.ops.outage",
    "outage_mitigation": "noa_lib.ops.outage",
    "error_breakdown_table": "noa_lib.show.release_incident",
    "log_patterns_table": "noa_lib.show.release_incident",
    "deployments_table": "noa_lib.show.release_incident",
    "decision_table": "noa_lib.show.release_incident",
    "mitigation_table": "noa_lib.show.release_incident",
    # incident/ai_provider_failover and incident/ddos
    "diagnose_ai_providers": "noa_lib.ops.ai_failover",
    "ai_failover_mitigation": "noa_lib.ops.ai_failover_plan",
    "ai_providers_table": "noa_lib.show.providers",
    "diagnose_ddos": "noa_lib.ops.ddos",
    "ddos_mitigation": "noa_lib.ops.ddos_plan",
    "endpoint_traffic_table": "noa_lib.show.traffic",
    "talkers_table": "noa_lib.show.traffic",
    # safety
    "Plan": "noa_lib.ops.safety",
    "Change": "noa_lib.ops.safety",
    "apply_plan": "noa_lib.ops.safety",
    # rendering
    "findings_table": "noa_lib.show.findings",
    "target_table": "noa_lib.show.targets",
    "show_plan": "noa_lib.show.plans",
    "show_applied": "noa_lib.show.plans",
    "record_outcome": "noa_lib.show.outcome",
    "retention_table": "noa_lib.show.retention",
    "gaps_frame": "noa_lib.show.retention",
    "backup_history_chart": "noa_lib.show.charts",
    "show_history_drills": "noa_lib.show.history",
    "show_history_backups": "noa_lib.show.history",
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
    from noa_lib.ops.ai_failover import diagnose_ai_providers
    from noa_lib.ops.ai_failover_plan import ai_failover_mitigation
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
    from noa_lib.ops.coverage import check_coverage
    from noa_lib.ops.credentials.breach import (  # incident/security_breach
        diagnose_credential,
        plan_credential_mitigation,
    )
    from noa_lib.ops.dashboards import board_findings, dashboards
    from noa_lib.ops.database import database_health
    from noa_lib.ops.db_pool import (
        decisive_outcome,
        diagnose_pool,
        pool_mitigation,
        restart_mitigation,
    )
    from noa_lib.ops.ddos import diagnose_ddos
    from noa_lib.ops.ddos_plan import ddos_mitigation
    from noa_lib.ops.deploy.analysis import (
        analysis_spec,
        default_metrics,
        run_analysis,
        skipped_analysis,
    )
    from noa_lib.ops.deploy.bluegreen import plan_blue_green, run_blue_green
    from noa_lib.ops.deploy.bluegreen_slots import decommission_plan
    from noa_lib.ops.deploy.canary import plan_canary, run_canary
    from noa_lib.ops.deploy.checklist import pre_deployment_checklist, require_go
    from noa_lib.ops.deploy.configmaps import (
        config_change_plan,
        config_history,
        config_restore_plan,
    )
    from noa_lib.ops.deploy.revisions import revision_history, undo_offer, undo_plan
    from noa_lib.ops.deploy.rollback import verify_rollback
    from noa_lib.ops.deploy.rollout import image_change, watch_rollout
    from noa_lib.ops.deploy.verification import post_deployment_verification
    from noa_lib.ops.error_rate import (  # incident/high_error_rate
        diagnose_error_rate,
        error_rate_mitigation,
    )
    from noa_lib.ops.findings import Finding, Status, require_ok, worst
    from noa_lib.ops.incident_comms import incident_update
    from noa_lib.ops.incident_triage import triage_incident
    from noa_lib.ops.latency import diagnose_latency, latency_mitigation
    from noa_lib.ops.logs.investigate import investigate_logs
    from noa_lib.ops.metrics_checks import check_thresholds, threshold_figures
    from noa_lib.ops.mitigation import Mitigation, Verdict, run_mitigation
    from noa_lib.ops.monitoring_stack import monitoring_stack
    from noa_lib.ops.names import validate_name
    from noa_lib.ops.notify import delivery_figures, plan_notifications, send_notifications
    from noa_lib.ops.outage import diagnose_outage, outage_mitigation  # incident/complete_outage
    from noa_lib.ops.pg_sessions import read_sessions, select_sessions, terminate_plan
    from noa_lib.ops.promql import CATALOGUE, get_query
    from noa_lib.ops.resources.disk import (  # incident/oom_kills, incident/disk_space
        diagnose_disk,
        plan_disk_mitigation,
    )
    from noa_lib.ops.resources.disk_rules import disk_parameters
    from noa_lib.ops.resources.oom import diagnose_oom
    from noa_lib.ops.resources.oom_plan import plan_oom_mitigation
    from noa_lib.ops.resources.oom_rules import oom_parameters
    from noa_lib.ops.restart import restart_plan, scale_plan, scale_target
    from noa_lib.ops.safety import Change, Plan, apply_plan
    from noa_lib.ops.severity import SeveritySignals, classify_severity
    from noa_lib.ops.targets import load_target
    from noa_lib.ops.thresholds import THRESHOLDS, threshold
    from noa_lib.ops.triage_causes import rank_causes
    from noa_lib.records.redaction import query_redactor
    from noa_lib.show.analysis import analysis_table
    from noa_lib.show.backups import backups_table, drill_table
    from noa_lib.show.charts import backup_history_chart
    from noa_lib.show.credentials import (  # incident/security_breach
        credential_touched_table,
        credential_users_table,
    )
    from noa_lib.show.dashboards import dashboard_chart
    from noa_lib.show.database import show_bloat, show_connections_by_state, show_long_queries
    from noa_lib.show.deploy_checks import checklist_table, show_deploy_evidence, verdict_banner
    from noa_lib.show.findings import findings_table
    from noa_lib.show.handoff import (
        handoff_actions_table,
        handoff_failed_runs_table,
        handoff_incidents_table,
    )
    from noa_lib.show.history import show_history_backups, show_history_drills
    from noa_lib.show.incident_triage import (
        triage_causes_table,
        triage_changes_table,
        triage_impact_table,
        triage_patterns_table,
        triage_severity_table,
    )
    from noa_lib.show.logs import log_timeline, log_timeline_chart, patterns_table, sources_frame
    from noa_lib.show.monitoring import (
        show_active_alerts,
        show_alert_episodes,
        show_rules,
        show_scrape_targets,
    )
    from noa_lib.show.notifications import (
        deliveries_table,
        notification_plan_table,
        show_update,
    )
    from noa_lib.show.outcome import record_outcome
    from noa_lib.show.pg_sessions import (
        candidates_table,
        lock_waits_table,
        sessions_by_state_table,
        sessions_table,
        slow_statements_table,
        statements_table,
    )
    from noa_lib.show.pitr import (
        show_base_backups,
        show_pitr_window,
        show_row_counts,
        show_wal_timelines,
    )
    from noa_lib.show.plans import show_applied, show_plan
    from noa_lib.show.postmortem import (
        review_markdown,
        review_timeline_table,
        review_times_table,
        show_review,
    )
    from noa_lib.show.providers import ai_providers_table
    from noa_lib.show.release_incident import (  # incident/high_error_rate, complete_outage
        decision_table,
        deployments_table,
        error_breakdown_table,
        log_patterns_table,
        mitigation_table,
    )
    from noa_lib.show.resources import (  # incident/oom_kills, incident/disk_space
        cleanup_table,
        disk_trend_chart,
        memory_trend_chart,
        oom_pods_table,
    )
    from noa_lib.show.retention import gaps_frame, retention_table
    from noa_lib.show.rollouts import (
        analyses_table,
        config_versions_table,
        handoff_table,
        phases_table,
        revisions_table,
        rollout_table,
        show_plans,
        slots_table,
        status_table,
        traffic_table,
    )
    from noa_lib.show.targets import target_table
    from noa_lib.show.traffic import endpoint_traffic_table, talkers_table
    from noa_lib.show.triage import (
        next_runbooks_table,
        show_triage_connections,
        show_triage_long_queries,
        show_triage_rollouts,
    )
