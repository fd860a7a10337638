"""Metric and label names in PromQL: the tokenizer's roles, renaming, and a target's naming."""

from __future__ import annotations

from pathlib import Path

import pytest

from noa_lib.config import KubernetesSettings, PostgresSettings, Target, load_config
from noa_lib.errors import ConfigError
from noa_lib.metrics_config import parse_metrics
from noa_lib.ops import promql
from noa_lib.ops.promql_names import label_names, metric_names, rename


def test_roles_follow_the_grammar():
    text = ('sum by (service) (rate(http_requests_total{code=~"5..", job="a b"}[5m] offset 1h))'
            ' / on (service) group_left (team) max without (le) (info{service!=""})'
            ' or vector(0) and bool_metric > bool 3')
    assert metric_names(text) == ("http_requests_total", "info", "bool_metric")
    assert label_names(text) == ("service", "code", "job", "team", "le")


def test_aggregations_before_their_grouping_and_trailing_grouping():
    assert metric_names("max by (x) (a) + sum(b) by (y) + count_values(\"v\", c)") == (
        "a", "b", "c")
    assert label_names("max by (x) (a) + sum(b) by (y) + count_values(\"v\", c)") == (
        "x", "y", "v")


def test_rename_touches_names_only_never_values_or_durations():
    text = ('label_replace(rate(noa_x{namespace="namespace", status="noa_x"}[5m]), '
            '"service", "$1", "container", "(.+)")')
    out = rename(text, {"noa_x": "their_x"},
                 {"namespace": "kubernetes_namespace", "status": "code",
                  "container": "container_name", "service": "app"})
    assert out == ('label_replace(rate(their_x{kubernetes_namespace="namespace", code="noa_x"}'
                   '[5m]), "app", "$1", "container_name", "(.+)")')


@pytest.mark.parametrize("query", promql.QUERIES, ids=lambda q: q.name)
def test_every_entry_renames_completely_and_round_trips(query):
    original = query.render("5m", scaled=False)
    metrics = {m: f"team_{m}" for m in metric_names(original)}
    labels = {lbl: f"t_{lbl}" for lbl in label_names(original)}
    theirs = rename(original, metrics, labels)
    assert set(metric_names(theirs)) == set(metrics.values())
    assert set(label_names(theirs)) == set(labels.values())
    back = rename(theirs, {v: k for k, v in metrics.items()}, {v: k for k, v in labels.items()})
    assert back == original


def test_a_targets_naming_reaches_every_query(tmp_path: Path):
    (tmp_path / "noa.toml").write_text(
        '[targets.prod.kubernetes]\ncontext = "c"\nnamespace = "noa-prod"\n'
        '[targets.prod.postgres]\nhost = "db"\ndbname = "noa_main"\n'
        '[targets.prod.metrics]\nnames = { noa_http_requests_total = "http_requests_total" }\n'
        'labels = { status = "code" }\n'
        '[targets.prod.metrics.matchers]\npostgres_exporter = { job = "pg" }\n'
        'noa = { namespace = "noa-prod", cluster = "eu-1" }\n'
        '[targets.prod.metrics.entries.scrape_up]\n'
        'promql = \'max by ($by) (up{@noa, job="api"})\'\n')
    target = load_config(tmp_path / "noa.toml", env={}).target("prod")
    naming = promql.naming_for(target)
    error_rate = promql.CATALOGUE["error_rate"].render(naming=naming, service="api")
    assert 'http_requests_total{cluster="eu-1",namespace="noa-prod",service="api",code=~"5.."}' \
        in error_rate
    assert "noa_http_requests_total" not in error_rate
    sessions = promql.CATALOGUE["db_sessions"].render(naming=naming)
    assert sessions == 'sum by (state) (pg_stat_activity_count{job="pg",datname="noa_main"})'
    cpu = promql.CATALOGUE["cpu_usage"].render(naming=naming)
    assert 'namespace="noa-prod"' in cpu and "cluster" not in cpu  # only NOA's own source
    assert promql.CATALOGUE["scrape_up"].render(naming=naming, by=()) == (
        'max (up{cluster="eu-1",namespace="noa-prod",job="api"})')
    assert naming.canonical("error_rate", {"code": "500", "pod": "p"}) == {"status": "500",
                                                                            "pod": "p"}


def test_defaults_follow_the_targets_namespace_and_database():
    target = Target("t", kubernetes=KubernetesSettings(namespace="noa-x"),
                    postgres=PostgresSettings(dbname="noa_x"))
    naming = promql.naming_for(target)
    assert 'namespace="noa-x"' in promql.CATALOGUE["memory_usage"].render(naming=naming)
    assert 'datname="noa_x"' in promql.CATALOGUE["db_sessions"].render(naming=naming)
    assert "namespace" not in promql.CATALOGUE["node_cpu_usage"].render(naming=naming)


@pytest.mark.parametrize(("section", "message"), [
    ({"names": {"noa x": "y"}}, "is not a valid name"),
    ({"labels": {"status": "co-de"}}, "must be a name matching"),
    ({"entries": {"latency_p95": {"query": "x"}}}, "accepted: ['labels', 'names', 'promql']"),
    ({"colour": "blue"}, "accepted: ['entries', 'file', 'labels', 'matchers', 'names']"),
    ({"file": "missing.toml"}, "cannot read"),
])
def test_bad_sections_name_the_key_and_what_is_accepted(tmp_path, section, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_metrics(section, "targets.t.metrics", tmp_path)


@pytest.mark.parametrize(("section", "message"), [
    ({"entries": {"latency_p96": {"names": {}}}}, "no catalogue entry \\['latency_p96'\\]"),
    ({"matchers": {"kube-state-metrics": {"job": "x"}}}, "accepted: noa, cadvisor"),
    ({"entries": {"scrape_up": {"promql": "up{$nope}"}}}, "unknown placeholder"),
])
def test_unknown_entries_sources_and_broken_templates_fail_before_any_query(section, message):
    target = Target("t", metrics=parse_metrics(section, "targets.t.metrics", Path(".")))
    with pytest.raises(ConfigError, match=message):
        promql.naming_for(target)


def test_the_file_is_read_relative_to_its_config_and_inline_keys_win(tmp_path: Path):
    (tmp_path / "m.toml").write_text('names = { a = "b", c = "d" }\n'
                                     '[entries.error_rate]\nlabels = { status = "code" }\n')
    section = parse_metrics({"file": "m.toml", "names": {"a": "z"}}, "x", tmp_path)
    assert dict(section.names) == {"a": "z", "c": "d"}
    assert dict(section.entries["error_rate"].labels) == {"status": "code"}
    assert section.file == (tmp_path / "m.toml").resolve()
