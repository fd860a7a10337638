from __future__ import annotations

from noa_lib.config import PostgresSettings, SecretRef, Target
from noa_lib.ops.connectivity import latency_figures
from noa_lib.ops.findings import Finding, Status
from noa_lib.show.targets import target_table


def test_target_table_shows_references_never_values(monkeypatch):
    monkeypatch.setenv("PW_FOR_TABLE", "the-actual-password")
    target = Target("stage", protected=True,
                    postgres=PostgresSettings(host="db", password=SecretRef("env:PW_FOR_TABLE")))
    frame = target_table(target)
    text = frame.to_string()
    assert "the-actual-password" not in text
    assert "secret via env:PW_FOR_TABLE" in text
    rows = {(r.backend, r.setting): r.value for r in frame.itertuples()}
    assert rows[("postgres", "host")] == "db" and rows[("-", "protected")] == "yes"
    assert rows[("s3", "-")] == "not configured"


def test_latency_figures_by_backend_not_position():
    findings = [
        Finding("s3 reachable", Status.OK, "", value=12.5, evidence={"backend": "s3"}),
        Finding("postgres reachable", Status.UNREACHABLE, "refused", value=None,
                evidence={"backend": "postgres"}),
        Finding("kubernetes", Status.SKIPPED, "not configured"),
    ]
    assert latency_figures(findings) == {
        "postgres_latency_ms": None, "s3_latency_ms": 12.5,
        "prometheus_latency_ms": None, "kubernetes_latency_ms": None,
    }
