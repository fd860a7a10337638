"""The pure parts of the sandbox's Redis and exporters: configuration, commands, history series.

One test runs a real ``redis-server`` (skipped only when the binary is absent, as on a machine
that did not run scripts/bootstrap.sh) to check that the caches count what Redis answers.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from noa_sandbox import exporters, history, history_datastores, prometheus, redisserver
from noa_sandbox.credentials import PG_MONITOR_PASSWORD, REDIS_PASSWORD
from noa_sandbox.layout import Layout
from noa_sandbox.simulator import cache, catalog

SECRET = "s3cr3t-Value_xyz"  # noqa: S105 - a test value


def test_redis_config_has_password_limit_policy_and_no_persistence(tmp_path: Path) -> None:
    text = redisserver.render_config(port=16777, password=SECRET, workdir=tmp_path)
    lines = set(text.splitlines())
    assert {"bind 127.0.0.1", "port 16777", f'requirepass "{SECRET}"', "maxmemory 268435456",
            "maxmemory-policy allkeys-lru", 'save ""', "appendonly no",
            f'dir "{tmp_path}"'} <= lines
    with pytest.raises(Exception, match="password"):
        redisserver.render_config(port=1, password='a" b', workdir=tmp_path)


def test_redis_config_file_is_private_and_the_command_holds_no_secret(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    redisserver.write_config(layout, redisserver.render_config(
        port=16777, password=SECRET, workdir=redisserver.directory(layout)))
    assert redisserver.config_path(layout).stat().st_mode & 0o777 == 0o600
    assert redisserver.directory(layout).stat().st_mode & 0o777 == 0o700
    argv = redisserver.command(redisserver.Binary(Path("/usr/bin/redis-server"), "7"), layout)
    assert argv == ["/usr/bin/redis-server", str(redisserver.config_path(layout))]
    redisserver.write_endpoint(layout, 16777)
    assert SECRET not in redisserver.endpoint_path(layout).read_text()


def test_exporters_get_passwords_from_a_file_or_the_environment(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    binary = exporters.Binary(Path("/usr/bin/x"), "1")
    env = exporters.postgres_env(layout, 54321)
    assert env["DATA_SOURCE_URI"] == "127.0.0.1:54321/noa?sslmode=disable"
    assert env["DATA_SOURCE_USER"] == exporters.MONITOR_ROLE
    assert env["DATA_SOURCE_PASS_FILE"] == str(layout.secrets_dir / PG_MONITOR_PASSWORD)
    assert "DATA_SOURCE_NAME" not in env and "DATA_SOURCE_PASS" not in env
    assert exporters.postgres_command(binary, 16901) == [
        "/usr/bin/x", "--web.listen-address=127.0.0.1:16901"]
    renv = exporters.redis_env(16777, SECRET)
    assert renv["REDIS_PASSWORD"] == SECRET and renv["REDIS_ADDR"] == "redis://127.0.0.1:16777"
    argv = exporters.redis_command(binary, 17101)
    assert SECRET not in " ".join(argv) and argv[-1] == "-web.listen-address=127.0.0.1:17101"
    assert REDIS_PASSWORD == "redis_password"  # noqa: S105 - the file name, not a value


def test_prometheus_scrapes_the_exporters_as_service_monitor_jobs() -> None:
    jobs = exporters.scrape_configs(16901, 17101)
    text = prometheus.render_config(simulator_port=19401, own_port=19101,
                                    alertmanager_port=None, rule_files=[],
                                    extra_scrape_configs=jobs)
    config = yaml.safe_load(text)
    by_name = {j["job_name"]: j for j in config["scrape_configs"]}
    pg, rd = by_name["postgres-exporter"], by_name["redis-exporter"]
    assert pg["static_configs"] == [{"targets": ["127.0.0.1:16901"], "labels": {
        "instance": "10.42.0.31:9187", "namespace": "noa"}}]
    assert rd["static_configs"][0]["labels"]["instance"] == "10.42.0.32:9121"
    relabel = pg["metric_relabel_configs"]
    assert {"action": "labeldrop", "regex": "datid"} in relabel
    assert relabel[0]["replacement"] == exporters.POSTGRES_SERVER
    assert "metric_relabel_configs" not in rd
    assert exporters.scrape_configs(None, 17101)[0]["job_name"] == "redis-exporter"


@pytest.fixture(scope="module")
def timeline() -> history.Timeline:
    tl, _, _ = history.plan(1_780_000_000.0)
    return tl


def test_history_series_are_few_labelled_and_on_the_live_scale(timeline: history.Timeline) -> None:
    series = list(history_datastores.generate(timeline, np.random.default_rng(1)))
    assert len(series) <= 80
    names = {s.name for s in series}
    assert {"pg_up", "pg_stat_activity_count", "pg_settings_max_connections",
            "pg_stat_database_blks_hit", "pg_stat_database_blks_read",
            "pg_stat_database_xact_commit", "pg_stat_database_numbackends",
            "pg_stat_database_deadlocks", "pg_database_size_bytes",
            "pg_stat_archiver_archived_count", "pg_stat_archiver_failed_count", "redis_up",
            "redis_memory_used_bytes", "redis_memory_max_bytes", "redis_commands_total",
            "redis_commands_processed_total", "redis_keyspace_hits_total",
            "redis_keyspace_misses_total", "redis_connected_clients"} <= names
    for s in series:
        assert s.values.shape == timeline.times.shape and np.isfinite(s.values).all(), s.name
        if s.name.startswith("pg_"):
            assert s.labels["job"] == "postgres-exporter" and "datid" not in s.labels
            assert s.labels["instance"] == exporters.POSTGRES_INSTANCE
        else:
            assert s.labels["job"] == "redis-exporter"
            assert s.labels["instance"] == exporters.REDIS_INSTANCE
        if s.family.kind == "counter" or s.name.startswith("pg_stat_database_") and \
                s.name != "pg_stat_database_numbackends":
            assert (np.diff(s.values) >= 0).all(), s.name
    cmds = {s.labels["cmd"] for s in series if s.name == "redis_commands_total"}
    assert cmds == {"get", "set", "del", "expire"}
    [used] = [s for s in series if s.name == "redis_memory_used_bytes"]
    share = used.values / catalog.REDIS_MAX_BYTES
    assert 0.3 < share.min() and share.max() < 0.6
    [commits] = [s for s in series if s.name == "pg_stat_database_xact_commit"]
    assert commits.family.kind == "gauge"  # OpenMetrics counters need `_total`; this has none


def test_history_active_connections_climb_during_the_pool_exhaustion(
    timeline: history.Timeline,
) -> None:
    active = history_datastores.active_connections(timeline, np.random.default_rng(3))
    ramp = history_datastores.exhausted_ramp(timeline)
    assert ramp.max() == 1.0
    full = ramp == 1.0
    assert active[full].min() >= 70
    assert np.median(active[ramp == 0]) < 8
    first = int(np.flatnonzero(ramp > 0)[0])
    assert active[first] < active[first + history_datastores.RAMP_STEPS - 1]  # a climb
    assert history_datastores.EXHAUSTED_ACTIVE < history_datastores.MAX_CONNECTIONS


def test_cache_counts_by_ratio_and_random_rounding_keeps_the_mean() -> None:
    counts = cache.model_counts({"session": 100, "api_response": 50})
    assert counts == {"session": (92, 8), "api_response": (37, 13)}
    import random

    rng = random.Random(5)  # noqa: S311
    draws = [cache.whole(2.3, rng) for _ in range(5000)]
    assert set(draws) == {2, 3} and abs(sum(draws) / 5000 - 2.3) < 0.05


def test_caches_without_redis_count_misses_and_log_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    (tmp_path / "endpoint.json").write_text(f'{{"host": "127.0.0.1", "port": {closed}}}')
    (tmp_path / "pw").write_text(SECRET + "\n")
    caches = cache.RedisCaches(tmp_path / "endpoint.json", tmp_path / "pw")
    with caplog.at_level(logging.INFO, logger="noa.simulator.cache"):
        for _ in range(3):
            assert caches.lookups({"session": 10}) == {"session": (0, 10)}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "miss" in warnings[0].getMessage()
    assert SECRET not in caplog.text


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_caches_count_what_a_real_redis_answered(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = redisserver.directory(layout)
    redisserver.write_config(layout, redisserver.render_config(
        port=port, password=SECRET, workdir=workdir))
    redisserver.write_endpoint(layout, port)
    (tmp_path / "pw").write_text(SECRET + "\n")
    binary = redisserver.find_binary()
    proc = subprocess.Popen(redisserver.command(binary, layout), stdout=subprocess.DEVNULL)  # noqa: S603
    try:
        deadline = time.monotonic() + 10
        while not redisserver.ping(port, SECRET):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        assert not redisserver.ping(port, "wrong")
        import redis

        client = redis.Redis(port=port, password=SECRET)
        caches = cache.RedisCaches(redisserver.endpoint_path(layout), tmp_path / "pw", seed=1)
        total = [0, 0]
        for _ in range(12):  # 12 x 4000 keys warms both populations (32 000 keys)
            for hits, misses in caches.lookups({"session": 200, "api_response": 100}).values():
                total[0] += hits
                total[1] += misses
        stats = client.info("stats")
        assert (total[0], total[1]) == (stats["keyspace_hits"], stats["keyspace_misses"])
        assert client.dbsize() >= sum(s.keys for s in cache.SPECS.values())
        used = client.info("memory")["used_memory"] / catalog.REDIS_MAX_BYTES
        assert 0.3 < used < 0.5, used
        after = caches.lookups({"session": 500})["session"]
        assert after[0] / 500 > 0.85  # warm: hits at the catalogue's ratio (0.92)
        commands = client.info("commandstats")
        assert {"cmdstat_get", "cmdstat_set", "cmdstat_expire", "cmdstat_del"} <= set(commands)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_app_role_credentials_come_from_the_secret_the_deployments_read() -> None:
    import base64

    from noa_lib.errors import Unavailable
    from noa_sandbox import approle

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    secret = {"data": {"username": b64("noa_app"), "password": b64("s3cr3t-pw")}}
    assert approle.decode_credentials(secret) == ("noa_app", "s3cr3t-pw")
    assert approle.decode_credentials({"data": {"password": b64("x")}}) == ("noa_app", "x")
    with pytest.raises(Unavailable, match="holds no password"):
        approle.decode_credentials({"data": {"username": b64("noa_app")}})
