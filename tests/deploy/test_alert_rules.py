"""The shipped Prometheus rules and Alertmanager config, checked by the real binaries.

``promtool check rules`` parses every alert; ``promtool test rules`` proves each fires on input
shaped like its sandbox scenario and stays quiet on normal traffic; every catalogue query parses
as PromQL; the Alertmanager example config loads in a real Alertmanager.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from noa_lib.ops import alert_rules, dashboards, promql

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
PROMTOOL = shutil.which("promtool")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")



@pytest.fixture(autouse=True)
def binaries() -> None:
    """promtool and Alertmanager are part of the bootstrap: missing is a failure, not a skip."""
    assert PROMTOOL is not None, "promtool missing: apt-get install -y prometheus (make bootstrap)"
    assert ALERTMANAGER is not None, "apt-get install -y prometheus-alertmanager (make bootstrap)"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120)


def test_promtool_check_rules_passes():
    proc = promtool("check", "rules", str(RULES))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(alert_rules.RULES)} rules found" in proc.stdout


def test_promtool_test_rules_passes():
    proc = promtool("test", "rules", str(RULE_TESTS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_every_alert_has_a_firing_test_and_a_quiet_one():
    doc = yaml.safe_load(RULE_TESTS.read_text())
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in doc["tests"]:
        for check in case["alert_rule_test"]:
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {r.name for r in alert_rules.RULES}
    assert names <= fired, f"no test makes these fire: {names - fired}"
    assert names <= quiet, f"no test keeps these quiet: {names - quiet}"


def test_a_wrong_expectation_fails(tmp_path: Path):
    """The rule tests are not vacuous: normal traffic expected to fire HighErrorRate fails."""
    doc = yaml.safe_load(RULE_TESTS.read_text())
    normal = doc["tests"][0]
    for check in normal["alert_rule_test"]:
        if check["alertname"] == "HighErrorRate":
            check["exp_alerts"] = [{"exp_labels": {"service": "api", "severity": "P1"}}]
    shutil.copy(RULES, tmp_path / "alerts.yml")
    broken = tmp_path / "alerts_test.yml"
    broken.write_text(yaml.safe_dump({**doc, "tests": [normal]}))
    proc = promtool("test", "rules", str(broken))
    assert proc.returncode != 0 and "HighErrorRate" in proc.stdout + proc.stderr


def test_every_catalogue_query_is_valid_promql(tmp_path: Path):
    records = []
    for query in promql.QUERIES:
        records.append(query.render("5m"))
        records.append(query.render("1h", by=()))
        records.append(query.render("30s", scaled=False, **{f: "x" for f in query.filters}))
    for board in dashboards.BOARDS:
        records.extend(promql.get_query(p.query).render("6m", by=p.by) for p in board.panels)
    rules = {"groups": [{"name": "catalogue", "rules": [
        {"record": f"noa:catalogue:{i}", "expr": expr} for i, expr in enumerate(records)]}]}
    path = tmp_path / "catalogue.yml"
    path.write_text(yaml.safe_dump(rules, width=10_000))
    proc = promtool("check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_short_for_variant_for_end_to_end_tests(tmp_path: Path):
    path = tmp_path / "alerts.yml"
    path.write_text(alert_rules.rules_yaml(for_override="1s"))
    assert promtool("check", "rules", str(path)).returncode == 0
    assert all(r.get("for", "1s") == "1s" for r in yaml.safe_load(path.read_text())[
        "groups"][0]["rules"])


def test_alertmanager_example_config_loads(tmp_path: Path):
    from promstack import free_port

    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    assert config["route"]["group_by"] == ["alertname"]
    assert any('P0|P1' in m for r in config["route"]["routes"] for m in r["matchers"])
    for receiver in receivers.values():
        assert any(w["url"].endswith(":9095/alerts") for w in receiver["webhook_configs"])
    port = free_port()
    proc = subprocess.Popen(
        [ALERTMANAGER, f"--config.file={ALERTMANAGER_CONFIG}", f"--storage.path={tmp_path}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/status",
                                            timeout=1) as response:
                    status = json.loads(response.read())
                    break
            except OSError:
                time.sleep(0.2)
        assert status is not None, proc.communicate(timeout=5)[0].decode()[-2000:]
        assert "noa-runbooks" in status["config"]["original"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
