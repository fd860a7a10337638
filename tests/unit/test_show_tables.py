"""ops return typed rows, show builds the tables: columns, values and the empty shapes."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

from noa_lib.ops.alert_history import ActiveAlert, AlertEpisode, AlertHistory
from noa_lib.ops.alert_triage import RecentRollout, TriageResult, rollback_finding
from noa_lib.ops.database import DatabaseHealth, LongQuery, StateConnections, TableBloat
from noa_lib.ops.deploy.evidence import DeployEvidence
from noa_lib.ops.monitoring_stack import RuleState, ScrapeTarget, StackHealth
from noa_lib.show.database import show_bloat, show_connections_by_state, show_long_queries
from noa_lib.show.deploy_checks import EVIDENCE_COLUMNS, show_deploy_evidence
from noa_lib.show.monitoring import (
    ACTIVE_COLUMNS,
    EPISODE_COLUMNS,
    RULE_COLUMNS,
    TARGET_COLUMNS,
    show_active_alerts,
    show_alert_episodes,
    show_rules,
    show_scrape_targets,
)
from noa_lib.show.triage import (
    ROLLOUT_COLUMNS,
    show_triage_connections,
    show_triage_long_queries,
    show_triage_rollouts,
)

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def test_alert_history_tables():
    history = AlertHistory(
        [],
        episodes=(AlertEpisode("HighErrorRate", "P1", '{service="api"}', T0,
                               T0 + timedelta(minutes=9), 10.0, True),),
        active=(ActiveAlert("prometheus", "HighErrorRate", "P1", "firing", "2026-11-27T01:00Z",
                            '{service="api"}'),
                ActiveAlert("alertmanager", "HighErrorRate", "P1", "active", "x", "")),
    )
    episodes = show_alert_episodes(history)
    assert list(episodes.columns) == EPISODE_COLUMNS
    assert episodes.loc[0, "minutes"] == 10.0 and bool(episodes.loc[0, "firing_now"])
    assert episodes.loc[0, "last_seen"] - episodes.loc[0, "started"] == timedelta(minutes=9)
    assert str(episodes["started"].dt.tz) == "UTC"
    active = show_active_alerts(history)
    assert list(active.columns) == ACTIVE_COLUMNS
    assert list(active["source"]) == ["prometheus", "alertmanager"]
    empty = AlertHistory([])
    assert list(show_alert_episodes(empty).columns) == EPISODE_COLUMNS
    assert show_active_alerts(empty).empty and list(show_active_alerts(empty).columns)


def test_monitoring_stack_tables():
    stack = StackHealth(
        [],
        targets=(ScrapeTarget("noa-server", "127.0.0.1:9", "down", 42.5, "2s", "refused"),),
        rules=(RuleState("noa", "HighErrorRate", "alerting", "ok", "inactive", ""),
               RuleState("noa", "noa:rate5m", "recording", "err", "", "bad expr")),
    )
    targets = show_scrape_targets(stack)
    assert list(targets.columns) == TARGET_COLUMNS
    assert targets.loc[0, "last_scrape_age_s"] == 42.5 and targets.loc[0, "health"] == "down"
    rules = show_rules(stack)
    assert list(rules.columns) == RULE_COLUMNS and list(rules["health"]) == ["ok", "err"]
    assert list(show_rules(StackHealth([])).columns) == RULE_COLUMNS


def test_triage_tables_keep_their_shape_when_nothing_was_read():
    rollouts = (RecentRollout("noa-api", 3, 2, T0, 12.0, "noa/api:2.15.0"),)
    result = TriageResult("HighErrorRate", {}, True, [], (), rollouts=rollouts)
    frame = show_triage_rollouts(result)
    assert list(frame.columns) == ROLLOUT_COLUMNS
    assert frame.loc[0, "deployment"] == "noa-api" and frame.loc[0, "minutes_ago"] == 12.0
    assert rollback_finding(result.rollouts, "api", "noa").message.startswith(
        "rollback candidate: noa-api rolled out revision 3 12 min ago")
    bare = TriageResult("Other", {}, False, [], ())
    assert show_triage_rollouts(bare).empty
    assert list(show_triage_long_queries(bare).columns)[:3] == ["pid", "user", "database"]
    assert list(show_triage_connections(bare).columns) == ["database", "state", "connections"]


def test_database_health_tables() -> None:
    health = DatabaseHealth(
        [],
        long_queries=(LongQuery(7, "app", "noa", "active", 301.0, "Lock:relation", "SELECT 1"),),
        bloat=(TableBloat("public", "jobs", 2000, 1000, 33.3, None),),
        connections_by_state=(StateConnections("noa", "idle", 4),
                              StateConnections("noa", "active", 1)),
    )
    queries = show_long_queries(health)
    assert list(queries.columns) == ["pid", "user", "database", "state", "seconds",
                                     "wait_event", "query"]
    assert queries.loc[0, "pid"] == 7 and queries.loc[0, "seconds"] == 301.0
    bloat = show_bloat(health)
    assert list(bloat.columns) == ["schema", "table", "live_tuples", "dead_tuples", "dead_pct",
                                   "last_autovacuum"]
    assert bloat.loc[0, "table"] == "jobs" and bloat.loc[0, "dead_pct"] == 33.3
    by_state = show_connections_by_state(health)
    assert by_state.values.tolist() == [["noa", "idle", 4], ["noa", "active", 1]]
    for show in (show_long_queries, show_bloat, show_connections_by_state):
        empty, unread = show(DatabaseHealth([])), show(None)
        assert empty.empty and unread.empty
        assert list(empty.columns) == list(unread.columns) == list(show(health).columns)


def test_deploy_evidence_table():
    evidence = DeployEvidence(last_backup=(T0, "b1"), open_incidents=("i9 (P1)",),
                              incidents_since=T0 - timedelta(days=3), source="index")
    frame = show_deploy_evidence(evidence)
    assert list(frame.columns) == EVIDENCE_COLUMNS
    assert frame.values.tolist() == [
        ["last backup", "2026-11-27 01:00 UTC", "b1"],
        ["last validated backup", "none found", ""],
        ["open P0/P1 incident", "since 2026-11-24 01:00 UTC", "i9 (P1)"],
    ]


def _imports_pandas(path: Path) -> bool:
    """Whether ``path`` imports pandas at run time (``if TYPE_CHECKING:`` blocks aside: naming
    the frame a client returns in an annotation builds nothing)."""
    def walk(nodes: list[ast.stmt] | list[ast.AST]) -> bool:
        for node in nodes:
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
                if walk(node.orelse):
                    return True
                continue
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "pandas"
                                                    for a in node.names):
                return True
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pandas":
                return True
            if walk(list(ast.iter_child_nodes(node))):
                return True
        return False

    return walk(ast.parse(path.read_text()).body)


def test_ops_leave_dataframes_to_show():
    ops = ROOT / "noa_lib" / "ops"
    building = {str(p.relative_to(ROOT / "noa_lib")) for p in ops.rglob("*.py")
                if _imports_pandas(p)}
    # no exception left (issue 9 §6): ops/metrics.py and ops/dashboards.py name the frame a
    # client returns in annotations only
    assert not building, f"ops modules importing pandas: {building}"
