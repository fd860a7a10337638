"""check_backends against the live sandbox, and against a sandbox target bent to fail."""

from __future__ import annotations

import dataclasses
import socket
import time

import pytest

from noa_lib.config import SecretRef, Target
from noa_lib.ops.connectivity import check_backends
from noa_lib.ops.findings import Finding, Status

pytestmark = pytest.mark.integration


def _by_backend(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check.split()[0]: f for f in findings}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _assert_no_secrets(target: Target, findings: list[Finding]) -> None:
    dumped = repr([f.as_dict() for f in findings])
    for secret in target.secret_values():
        assert secret not in dumped


def test_configured_backends_ok(sandbox_target: Target) -> None:
    findings = check_backends(sandbox_target)
    by = _by_backend(findings)
    assert list(by) == ["postgres", "s3", "prometheus", "kubernetes"]
    for name, settings in (
        ("postgres", sandbox_target.postgres),
        ("s3", sandbox_target.s3),
        ("prometheus", sandbox_target.prometheus),
        ("kubernetes", sandbox_target.kubernetes),
    ):
        finding = by[name]
        if settings is None:
            assert finding.status is Status.SKIPPED
            assert f"not configured for target {sandbox_target.name}" in finding.message
        else:
            assert finding.status is Status.OK, finding.message
            assert isinstance(finding.value, float) and finding.value > 0
            assert finding.unit == "ms"
            assert finding.evidence["endpoint"]

    pg = by["postgres"]
    assert sandbox_target.postgres is not None
    settings = sandbox_target.postgres
    assert pg.evidence["endpoint"] == f"{settings.host}:{settings.port}"
    assert int(pg.evidence["server_version_num"]) >= 100000
    assert pg.evidence["database"] == sandbox_target.postgres.dbname

    s3 = by["s3"]
    assert sandbox_target.s3 is not None
    assert s3.evidence["buckets"] == {
        sandbox_target.s3.backup_bucket: "present",
        sandbox_target.s3.records_bucket: "present",
    }
    _assert_no_secrets(sandbox_target, findings)


def test_closed_postgres_port_is_unreachable_fast(sandbox_target: Target) -> None:
    assert sandbox_target.postgres is not None
    port = _closed_port()
    pg = dataclasses.replace(sandbox_target.postgres, port=port, connect_timeout=2.0)
    broken = dataclasses.replace(sandbox_target, postgres=pg)

    started = time.monotonic()
    findings = check_backends(broken)
    elapsed = time.monotonic() - started

    assert elapsed < pg.connect_timeout + 2
    by = _by_backend(findings)
    assert by["postgres"].status is Status.UNREACHABLE
    assert by["postgres"].message == (
        f"PostgreSQL at 127.0.0.1:{port} unreachable: connection refused"
    )
    if broken.s3 is not None:
        assert by["s3"].status is Status.OK  # the other backends are still checked


def test_wrong_password_is_unreachable_and_scrubbed(
    sandbox_target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sandbox_target.postgres is not None
    monkeypatch.setenv("NOA_TEST_WRONG_PG_PASSWORD", "wrong-Pa55word-xyz")
    pg = dataclasses.replace(
        sandbox_target.postgres, password=SecretRef("env:NOA_TEST_WRONG_PG_PASSWORD")
    )
    findings = check_backends(dataclasses.replace(sandbox_target, postgres=pg))
    finding = _by_backend(findings)["postgres"]
    assert finding.status is Status.UNREACHABLE
    assert "authentication failed" in finding.message
    assert "wrong-Pa55word-xyz" not in repr(finding.as_dict())


def test_missing_bucket_is_a_warning(sandbox_target: Target) -> None:
    assert sandbox_target.s3 is not None
    s3 = dataclasses.replace(sandbox_target.s3, records_bucket="noa-no-such-bucket")
    finding = _by_backend(check_backends(dataclasses.replace(sandbox_target, s3=s3)))["s3"]
    assert finding.status is Status.WARNING
    assert "noa-no-such-bucket missing" in finding.message
    assert finding.evidence["buckets"]["noa-no-such-bucket"] == "missing"


def test_wrong_s3_secret_is_unreachable(
    sandbox_target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sandbox_target.s3 is not None
    monkeypatch.setenv("NOA_TEST_WRONG_S3_SECRET", "wrong-S3-secret-abc")
    s3 = dataclasses.replace(
        sandbox_target.s3, secret_access_key=SecretRef("env:NOA_TEST_WRONG_S3_SECRET")
    )
    finding = _by_backend(check_backends(dataclasses.replace(sandbox_target, s3=s3)))["s3"]
    assert finding.status is Status.UNREACHABLE
    assert "access denied" in finding.message
    assert "wrong-S3-secret-abc" not in repr(finding.as_dict())
