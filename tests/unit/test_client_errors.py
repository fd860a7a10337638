"""SDK failures become our errors, with short messages that never carry a secret.

Closed loopback ports stand for a dead backend; a small real HTTP server (stdlib) answers with
chosen statuses — and echoes the request's Authorization header in its body, so a leak would show.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from noa_lib.clients import kubernetes, postgres, prometheus, s3
from noa_lib.clients._errors import MAX_MESSAGE, safe, scrub
from noa_lib.config import (
    KubernetesSettings,
    PostgresSettings,
    PrometheusSettings,
    S3Settings,
    SecretRef,
    Target,
)
from noa_lib.errors import ClientError, ConfigError, Conflict, NotFound, Timeout, Unavailable
from noa_lib.ops.connectivity import check_backends
from noa_lib.ops.findings import Status

SECRET = "hunter2-Sup3r/S3cret+key"


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> SecretRef:
    monkeypatch.setenv("NOA_TEST_SECRET", SECRET)
    return SecretRef("env:NOA_TEST_SECRET")


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Handler(BaseHTTPRequestHandler):
    status = 200
    body = b"{}"
    delay = 0.0

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        time.sleep(self.delay)
        auth = self.headers.get("Authorization", "")
        payload = self.body.replace(b"$AUTH", auth.encode())
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        try:
            self.wfile.write(payload)
        except BrokenPipeError:  # the client gave up (timeout tests)
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


# --- scrubbing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"connection failed: password={SECRET} host=db",
        f"postgresql://noa_ops:{SECRET}@db:5432/noa",
        f"Authorization: Bearer {SECRET}",
        f'{{"token": "{SECRET}"}}',
        "key hunter2-Sup3r%2FS3cret%2Bkey in a URL",
    ],
)
def test_scrub_removes_secret(text: str) -> None:
    assert "hunter2" not in scrub(text, [SECRET])


def test_scrub_patterns_without_known_secret() -> None:
    assert "pw" not in scrub("password=pw host=x").split("=", 1)[1].split()[0]
    assert scrub("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert scrub("x-amz-signature=abcdef&x=1") == "x-amz-signature=***&x=1"
    assert scrub("the password authentication failed") == "the password authentication failed"


def test_safe_is_one_short_line() -> None:
    text = "line one\n\tline two " + "x" * 1000
    out = safe(text)
    assert "\n" not in out and len(out) <= MAX_MESSAGE and out.endswith("…")


# --- closed ports: Unavailable, fast, no secret -------------------------------------------------


def _assert_clean(exc: BaseException) -> None:
    assert "hunter2" not in str(exc)
    assert len(str(exc)) <= MAX_MESSAGE


def test_postgres_closed_port(secret_env: SecretRef, closed_port: int) -> None:
    settings = PostgresSettings(port=closed_port, password=secret_env, connect_timeout=2)
    with pytest.raises(Unavailable) as info:
        postgres.connect(settings)
    assert (
        str(info.value) == f"PostgreSQL at 127.0.0.1:{closed_port} unreachable: connection refused"
    )
    assert info.value.backend == "PostgreSQL"
    _assert_clean(info.value)


def test_postgres_unknown_host(secret_env: SecretRef) -> None:
    settings = PostgresSettings(host="no-such-host.invalid", password=secret_env)
    with pytest.raises(Unavailable, match="unknown host") as info:
        postgres.connect(settings)
    _assert_clean(info.value)


def test_unresolvable_secret_is_config_error(closed_port: int) -> None:
    settings = PostgresSettings(port=closed_port, password=SecretRef("env:NOA_TEST_UNSET_VAR"))
    with pytest.raises(ConfigError, match="NOA_TEST_UNSET_VAR"):
        postgres.connect(settings)


def test_s3_closed_port(secret_env: SecretRef, closed_port: int) -> None:
    settings = S3Settings(
        endpoint_url=f"http://127.0.0.1:{closed_port}",
        access_key_id=SecretRef("env:NOA_TEST_SECRET"),
        secret_access_key=secret_env,
        timeout=2,
    )
    started = time.monotonic()
    with pytest.raises(Unavailable, match="connection refused") as info:
        s3.probe(settings)
    assert time.monotonic() - started < 5
    _assert_clean(info.value)


def test_prometheus_closed_port(secret_env: SecretRef, closed_port: int) -> None:
    settings = PrometheusSettings(url=f"http://127.0.0.1:{closed_port}", bearer_token=secret_env)
    with pytest.raises(Unavailable, match="connection refused") as info:
        prometheus.probe(settings)
    _assert_clean(info.value)


def test_kubernetes_closed_port(secret_env: SecretRef, closed_port: int) -> None:
    settings = KubernetesSettings(api_url=f"http://127.0.0.1:{closed_port}", token=secret_env)
    with pytest.raises(Unavailable, match="connection refused") as info:
        kubernetes.probe(settings)
    _assert_clean(info.value)


def test_kubernetes_bad_kubeconfig(tmp_path: pytest.TempPathFactory) -> None:
    settings = KubernetesSettings(kubeconfig="/nonexistent/kubeconfig", context="nope")
    with pytest.raises(ConfigError, match="kubeconfig"):
        kubernetes.api_client(settings)


# --- HTTP statuses from a real server -----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (503, Unavailable),
        (404, NotFound),
        (401, ClientError),
        (403, ClientError),
        (400, ClientError),
    ],
)
def test_prometheus_http_status(
    http_server: tuple[str, type[_Handler]],
    secret_env: SecretRef,
    status: int,
    expected: type[ClientError],
) -> None:
    url, handler = http_server
    handler.status = status
    handler.body = b'{"status":"error","error":"echo $AUTH"}'
    with pytest.raises(expected) as info:
        prometheus.probe(PrometheusSettings(url=url, bearer_token=secret_env))
    assert type(info.value) is expected
    _assert_clean(info.value)


def test_prometheus_sends_token_and_reads_version(
    http_server: tuple[str, type[_Handler]], secret_env: SecretRef
) -> None:
    url, handler = http_server
    handler.body = b'{"status":"success","data":{"version":"2.42.0","revision":"$AUTH"}}'
    info = prometheus.probe(PrometheusSettings(url=url, bearer_token=secret_env))
    assert info.version == "2.42.0"
    assert info.revision == f"Bearer {SECRET}"  # the server saw the token
    assert info.latency_ms > 0


def test_prometheus_read_timeout(http_server: tuple[str, type[_Handler]]) -> None:
    url, handler = http_server
    handler.delay = 2.0
    started = time.monotonic()
    with pytest.raises(Timeout, match="did not answer within 0.5 s"):
        prometheus.probe(PrometheusSettings(url=url, timeout=0.5))
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    ("status", "expected"),
    [(404, NotFound), (409, Conflict), (500, Unavailable), (403, ClientError)],
)
def test_kubernetes_http_status(
    http_server: tuple[str, type[_Handler]],
    secret_env: SecretRef,
    status: int,
    expected: type[ClientError],
) -> None:
    url, handler = http_server
    handler.status = status
    handler.body = b'{"kind":"Status","apiVersion":"v1","message":"denied for $AUTH"}'
    with pytest.raises(expected) as info:
        kubernetes.probe(KubernetesSettings(api_url=url, token=secret_env))
    assert type(info.value) is expected
    _assert_clean(info.value)


def test_kubernetes_version(http_server: tuple[str, type[_Handler]]) -> None:
    url, handler = http_server
    handler.body = (
        b'{"major":"1","minor":"31","gitVersion":"v1.31.0","gitCommit":"abc",'
        b'"gitTreeState":"clean","buildDate":"2026-01-01T00:00:00Z","goVersion":"go1.22",'
        b'"compiler":"gc","platform":"linux/amd64"}'
    )
    info = kubernetes.probe(KubernetesSettings(api_url=url))
    assert info.version == "v1.31.0" and info.platform == "linux/amd64"


def test_kubernetes_read_timeout(http_server: tuple[str, type[_Handler]]) -> None:
    url, handler = http_server
    handler.delay = 2.0
    with pytest.raises(Timeout):
        kubernetes.probe(KubernetesSettings(api_url=url, timeout=0.5))


# --- connectivity never raises --------------------------------------------------------------


def test_check_backends_all_down(secret_env: SecretRef, closed_port: int) -> None:
    target = Target(
        name="dead",
        postgres=PostgresSettings(port=closed_port, password=secret_env),
        s3=S3Settings(
            endpoint_url=f"http://127.0.0.1:{closed_port}",
            access_key_id=secret_env,
            secret_access_key=secret_env,
        ),
        prometheus=PrometheusSettings(
            url=f"http://127.0.0.1:{closed_port}", bearer_token=secret_env
        ),
        kubernetes=KubernetesSettings(api_url=f"http://127.0.0.1:{closed_port}", token=secret_env),
    )
    started = time.monotonic()
    findings = check_backends(target)
    assert time.monotonic() - started < 5
    assert [f.status for f in findings] == [Status.UNREACHABLE] * 4
    for f in findings:
        assert "unreachable: connection refused" in f.message
        assert "hunter2" not in repr(f.as_dict())


def test_check_backends_unconfigured_and_unresolvable() -> None:
    target = Target(
        name="bare", postgres=PostgresSettings(password=SecretRef("env:NOA_TEST_UNSET"))
    )
    findings = check_backends(target)
    assert [f.check for f in findings] == [
        "postgres connectivity",
        "s3 connectivity",
        "prometheus connectivity",
        "kubernetes connectivity",
    ]
    assert findings[0].status is Status.UNREACHABLE
    assert "not checked" in findings[0].message and "NOA_TEST_UNSET" in findings[0].message
    assert [f.status for f in findings[1:]] == [Status.SKIPPED] * 3
    assert findings[1].message == "S3 is not configured for target bare"
