"""The PromQL catalogue, range chunking, frame merging, alert rules and dashboards as data."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noa_lib.clients import prometheus_frames as frames
from noa_lib.errors import ParameterError
from noa_lib.ops import alert_rules, dashboards, promql
from noa_lib.ops.thresholds import THRESHOLDS

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = {
    "noa": ("noa_http_requests_total", "noa_http_request_duration_seconds_bucket",
            "noa_db_pool_connections_in_use", "noa_db_pool_connections_max",
            "noa_cache_hits_total", "noa_cache_misses_total", "noa_queue_depth",
            "noa_ai_provider_requests_total", "noa_ai_provider_request_duration_seconds_bucket",
            "noa_ai_provider_cost_usd_total", "noa_ai_provider_circuit_breaker_state", "up"),
    "cadvisor": ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes"),
    "kube_state_metrics": ("kube_pod_container_resource_limits",
                           "kube_pod_container_status_restarts_total",
                           "kube_pod_container_status_last_terminated_reason",
                           "kube_deployment_status_replicas_unavailable", "kube_pod_status_ready"),
    "kubelet": ("kubelet_volume_stats_used_bytes", "kubelet_volume_stats_capacity_bytes"),
    "node_exporter": ("node_cpu_seconds_total", "node_memory_MemAvailable_bytes",
                      "node_memory_MemTotal_bytes"),
    "postgres_exporter": ("pg_stat_database_numbackends", "pg_settings_max_connections",
                          "pg_stat_activity_count", "pg_stat_database_blks_hit",
                          "pg_stat_database_blks_read", "pg_up"),
    "redis_exporter": ("redis_memory_used_bytes", "redis_memory_max_bytes",
                       "redis_commands_total", "redis_keyspace_hits_total",
                       "redis_keyspace_misses_total"),
}
"""Every series the catalogue reads, by source: the names real exporters publish."""
INVENTED = ("noa_pod_cpu_usage_ratio", "noa_pod_memory_usage_bytes", "noa_pod_memory_limit_bytes",
            "noa_pod_restarts_total", "noa_disk_used_bytes", "noa_disk_capacity_bytes",
            "noa_redis_memory_used_bytes", "noa_redis_memory_max_bytes", "noa_redis_commands_total")


# --------------------------------------------------------------------------- catalogue


def test_every_threshold_metric_has_exactly_one_query():
    for metric, limit in THRESHOLDS.items():
        owners = [q for q in promql.QUERIES if q.threshold_metric == metric]
        assert len(owners) == 1, metric
        query = promql.for_threshold(metric)
        if limit.unit:  # percent and seconds: the scaled query speaks the threshold's unit
            assert query.unit.strip() == limit.unit, metric


def test_catalogue_covers_the_brief_and_the_metric_contract():
    wanted = {"error_rate", "latency_p95", "latency_p99", "request_rate", "cpu_usage",
              "memory_usage", "db_pool_usage", "cache_hit_rate", "redis_memory", "queue_depth",
              "ai_error_rate", "ai_latency_p95", "ai_cost_per_hour", "circuit_breaker_state",
              "disk_usage", "restarts", "oom_kills"}
    assert wanted <= set(promql.CATALOGUE)
    read = {(metric, source) for q in promql.QUERIES for metric, source in q.series()}
    assert read == {(m, source) for source, names in CONTRACT.items() for m in names}
    used = " ".join(q.promql for q in promql.QUERIES)
    assert [m for m in INVENTED if m in used] == []
    for q in promql.QUERIES:
        assert q.description.endswith(".") and q.name.isidentifier(), q.name


@pytest.mark.parametrize("query", promql.QUERIES, ids=lambda q: q.name)
def test_every_query_renders_with_namespace_window_and_breakdown(query):
    text = query.render("10m")
    assert "@" not in text and "{{" not in text and "{," not in text and ",}" not in text
    assert "$" not in text.replace('"$1"', "")
    namespaced = [s for s in query.sources if promql.SOURCES[[x.key for x in promql.SOURCES]
                                                             .index(s)].namespaced]
    assert ('namespace="noa"' in text) == bool(namespaced), query.name
    if "$window" in query.promql:
        assert "[10m]" in text
    assert text.count("(") == text.count(")")
    total = query.render("5m", by=())
    assert " by () " not in total and "by ()" not in total
    for label in query.filters:
        matched = query.filter_as.get(label, label)
        assert f'{matched}="x"' in query.render("5m", **{label: "x"})


def test_scaling_to_the_unit():
    assert promql.CATALOGUE["error_rate"].render().endswith(") * 100")
    assert not promql.CATALOGUE["error_rate"].render(scaled=False).endswith("* 100")
    assert promql.CATALOGUE["redis_memory_used"].render().endswith(") / 1048576")
    assert promql.CATALOGUE["ai_cost_per_hour"].render().endswith(") * 3600")
    assert promql.CATALOGUE["latency_p95"].render().startswith("histogram_quantile(0.95")


def test_filters_are_validated_and_values_escaped():
    query = promql.CATALOGUE["error_rate"]
    assert 'service="a\\"b"' in query.render(service='a"b')
    assert query.render(service=None) == query.render()
    with pytest.raises(ParameterError, match="cannot be filtered by 'queue'"):
        query.render(queue="default")
    with pytest.raises(ParameterError, match="not a label name"):
        query.render(by=("bad label",))
    with pytest.raises(ParameterError, match="not a duration"):
        query.render("5 minutes")
    with pytest.raises(ParameterError, match="no query 'nope'"):
        promql.get_query("nope")


@pytest.mark.parametrize(("text", "seconds"), [
    ("5m", 300), ("24h", 86400), ("1h30m", 5400), ("90d", 7776000), ("500ms", 0.5), ("1w", 604800),
])
def test_durations(text, seconds):
    assert promql.parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5", "m5", "0m", "-5m", "5 m", "1.5h"])
def test_bad_durations(bad):
    with pytest.raises(ParameterError):
        promql.parse_duration(bad)


def test_format_duration():
    assert [promql.format_duration(s) for s in (300, 360, 7200, 86400, 90, 0.2)] == [
        "5m", "6m", "2h", "1d", "90s", "1s"]


# --------------------------------------------------------------------------- chunking math


def test_chunks_of_ninety_days_at_one_minute():
    step = 60_000
    end = 90 * 86_400_000
    chunks = frames.range_chunks(0, end, step, 11_000)
    assert len(chunks) == math.ceil((end // step + 1) / 11_000) == 12
    assert all(frames.points(c, step) <= 11_000 for c in chunks)
    assert chunks[0][0] == 0 and chunks[-1][1] == end


def test_a_range_within_the_limit_is_one_request():
    assert frames.range_chunks(1000, 1000 + 10_999 * 60_000, 60_000, 11_000) == [
        (1000, 1000 + 10_999 * 60_000)]
    assert frames.range_chunks(5, 5, 1, 11_000) == [(5, 5)]


@settings(deadline=None, max_examples=200)
@given(
    start=st.integers(0, 10**12),
    total=st.integers(1, 200_000),
    step=st.integers(1, 10**7),
    tail=st.floats(0, 0.999),
    max_points=st.integers(50, 20_000),
)
def test_chunks_tile_the_grid_exactly(start, total, step, tail, max_points):
    end = start + (total - 1) * step + int(tail * step)  # the end need not be on the grid
    chunks = frames.range_chunks(start, end, step, max_points)
    assert sum(frames.points(c, step) for c in chunks) == total
    assert chunks[0][0] == start
    assert chunks[-1][1] == start + (total - 1) * step <= end
    for (a_start, a_end), (b_start, _b_end) in zip(chunks, chunks[1:], strict=False):
        assert b_start == a_end + step  # consecutive points of the same grid: no gap, no overlap
        assert (a_start - start) % step == 0
    assert all(1 <= frames.points(c, step) <= max_points for c in chunks)


def test_chunking_rejects_nonsense():
    with pytest.raises(ParameterError):
        frames.range_chunks(0, 10, 0, 100)
    with pytest.raises(ParameterError):
        frames.range_chunks(10, 0, 1, 100)
    with pytest.raises(ParameterError):
        frames.range_chunks(0, 10, 1, 0)


# --------------------------------------------------------------------------- merging answers


def _series(labels, samples):
    return {"metric": labels, "values": [[t, str(v)] for t, v in samples]}


def test_merge_concatenates_deduplicates_and_orders():
    a = [_series({"service": "api"}, [(60, 1), (120, 2)]),
         _series({"service": "web"}, [(60, 5)])]
    b = [_series({"service": "api"}, [(120, 99), (180, 3)])]
    frame = frames.merge([b, a])
    assert list(frame.columns) == ["api", "web"]
    assert frame.index.tz is not None and frame.index.name == "time"
    assert frame["api"].tolist() == [1.0, 99.0, 3.0]  # the first answer wins a duplicate
    assert math.isnan(frame["web"].iloc[1])
    assert frame.attrs["labels"]["api"] == {"service": "api"}


def test_merge_names_columns_by_label_sets_and_parses_special_values():
    frame = frames.merge([[
        _series({"service": "api", "pod": "a"}, [(0, "NaN")]),
        _series({"service": "api", "pod": "b"}, [(0, "+Inf")]),
    ]])
    assert list(frame.columns) == ["pod=a, service=api", "pod=b, service=api"]
    assert math.isnan(frame.iloc[0, 0]) and frame.iloc[0, 1] == math.inf
    assert list(frames.merge([[_series({}, [(0, 1)])]]).columns) == ["value"]
    empty = frames.merge([[], []])
    assert empty.empty and str(empty.index.tz) == "UTC"


def test_fetch_all_keeps_order_and_raises_the_first_failure():
    chunks = [(i, i) for i in range(10)]
    assert frames.fetch_all(lambda c: c[0] * 2, chunks, 4) == [i * 2 for i in range(10)]

    def boom(chunk):
        if chunk[0] == 3:
            raise ParameterError("chunk 3 failed")
        return chunk

    with pytest.raises(ParameterError, match="chunk 3"):
        frames.fetch_all(boom, chunks, 4)


# --------------------------------------------------------------------------- rules and boards


def test_committed_rule_file_is_the_generated_one():
    committed = (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text()
    assert committed == alert_rules.rules_yaml(), (
        "regenerate: python -m noa_lib.ops.alert_rules > deploy/prometheus/alerts.yml")


def test_alert_rules_use_the_catalogue_and_the_thresholds():
    names = [r.name for r in alert_rules.RULES]
    assert len(names) == len(set(names))
    assert {"HighErrorRate", "HighLatency", "DatabaseConnectionPoolExhausted", "HighCPU",
            "HighMemory", "QueueBacklog", "AIProviderFailures", "DiskSpaceLow", "OOMKills",
            "TargetDown"} <= set(names)
    assert {r.severity for r in alert_rules.RULES} == {"P0", "P1", "P2", "P3"}
    for rule in alert_rules.RULES:
        query = promql.get_query(rule.query)
        assert rule.expr.startswith(query.render(rule.window, by=rule.by))
        assert (ROOT / "notebooks" / f"{rule.answered_by}.ipynb").is_file(), rule.answered_by
        assert rule.runbook_url == f"notebooks/{rule.answered_by}.ipynb?alert={rule.name}"
        metric = query.threshold_metric
        if metric and rule.name != "LowCacheHitRate":
            assert rule.bound in (THRESHOLDS[metric].warning, THRESHOLDS[metric].critical)
    by_name = {r.name: r for r in alert_rules.RULES}
    # the scaling indicators of NOA's runbooks: CPU 15 min, memory and p95 10 min, queue 5 min
    assert (by_name["HighCPU"].for_, by_name["HighMemory"].for_) == ("15m", "10m")
    assert (by_name["HighLatency"].for_, by_name["QueueBacklog"].for_) == ("10m", "5m")
    assert "for" not in by_name["HighCPU"].as_rule("1s") or by_name["HighCPU"].as_rule("1s")[
        "for"] == "1s"


def test_six_dashboards_of_catalogue_queries():
    assert dashboards.BOARD_NAMES == ("operational", "api_performance", "database", "redis",
                                      "ai_providers", "cost")
    for board in dashboards.BOARDS:
        for panel in board.panels:
            promql.get_query(panel.query).render("5m", by=panel.by)


@pytest.mark.parametrize(("window", "step", "rate"), [
    ("1h", 60, "5m"), ("24h", 180, "6m"), ("7d", 1260, "42m"), ("90d", 16200, "9h"),
])
def test_dashboard_resolution(window, step, rate):
    assert dashboards.resolution(window) == (step, rate)
