from __future__ import annotations

import base64
import io
import json
import logging
import random
import string
from collections.abc import Callable

import pytest

from noa_lib.config import load_config
from noa_lib.records.redaction import MASK, RedactingFilter, Redactor, known_secrets


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://noa_ops:Sup3rSecret@db:5432/noa",
        "host=db user=noa password=Sup3rSecret dbname=noa",
        "PGPASSWORD=Sup3rSecret pg_dump",
        "aws_secret_access_key = Sup3rSecret",
        '{"password": "Sup3rSecret"}',
        "Authorization: Bearer Sup3rSecretTokenValue",
    ],
)
def test_secret_looking_strings_are_masked(text):
    out = Redactor().text(text)
    assert "Sup3rSecret" not in out and MASK in out


def test_aws_access_key_ids_are_masked():
    assert "AKIAIOSFODNN7EXAMPLE" not in Redactor().text("key AKIAIOSFODNN7EXAMPLE used")


def test_known_values_masked_everywhere_including_url_encoded():
    r = Redactor(["p@ss w/rd!", "xy"])  # too short values are ignored
    out = r.text("a p@ss w/rd! b p%40ss%20w%2Frd%21 c p%40ss+w%2Frd%21 xy")
    assert "p@ss" not in out and "p%40ss" not in out and out.endswith("xy")


def test_data_is_walked_deeply_but_images_kept():
    r = Redactor(["topsecret"])
    data = {"a": ["topsecret", {"b": "x topsecret"}], "image/png": "topsecret-not-text", "n": 3}
    clean = r.data(data)
    assert clean["a"] == [MASK, {"b": f"x {MASK}"}]
    assert clean["image/png"] == "topsecret-not-text" and clean["n"] == 3
    assert data["a"][0] == "topsecret"  # input untouched


def test_plain_prose_is_left_alone():
    text = "token expiration checked; password authentication failed for user noa_ops"
    assert Redactor().text(text) == text


def test_known_secrets_come_from_all_targets_and_secret_env(tmp_path):
    (tmp_path / "pw").write_text("file-secret-1")
    cfg_path = tmp_path / "noa.toml"
    cfg_path.write_text('[targets.a.postgres]\npassword = "file:pw"\n'
                        '[targets.b.prometheus]\nbearer_token = "env:B_TOKEN"\n')
    env = {"B_TOKEN": "token-value-2", "MY_API_KEY": "apikey-3", "HOME": "/root"}
    cfg = load_config(cfg_path, env=env)
    import os
    os.environ["B_TOKEN"] = "token-value-2"
    try:
        values = known_secrets(cfg, env)
    finally:
        del os.environ["B_TOKEN"]
    assert {"file-secret-1", "token-value-2", "apikey-3"} <= set(values)
    assert "/root" not in values


# --- token formats real systems hold (generated at run time) --------------------------------

_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"


def _r(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(random.choice(alphabet) for _ in range(n))  # noqa: S311 - test data


def _jwt() -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    header, claims = part({"alg": "RS256"}), part({"sub": _r(8), "exp": 1900000000})
    return f"{header}.{claims}.{_r(86, _ALNUM + '-_')}"


def _pem(kind: str) -> str:
    body = "\n".join(_r(64, _ALNUM + "+/") for _ in range(6))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----"


TOKENS: dict[str, Callable[[], str]] = {
    "openai": lambda: f"sk-{_r(20)}T3BlbkFJ{_r(20)}",
    "openai-proj": lambda: f"sk-proj-{_r(74, _ALNUM + '_-')}A{_r(3)}",
    "anthropic": lambda: f"sk-ant-api03-{_r(93, _ALNUM + '_-')}AA",
    "slack-bot": lambda: f"xoxb-{_r(12, string.digits)}-{_r(13, string.digits)}-{_r(24)}",
    "slack-user": lambda: (f"xoxp-{_r(12, string.digits)}-{_r(12, string.digits)}-"
                           f"{_r(12, string.digits)}-{_r(32, _HEX)}"),
    "slack-webhook": lambda: f"https://hooks.slack.com/services/T{_r(8).upper()}/B{_r(10).upper()}/{_r(24)}",
    "github-ghp": lambda: f"ghp_{_r(36)}",
    "github-gho": lambda: f"gho_{_r(36)}",
    "github-ghs": lambda: f"ghs_{_r(36)}",
    "github-pat": lambda: f"github_pat_11{_r(20).upper()}_{_r(59)}",
    "gitlab": lambda: f"glpat-{_r(20, _ALNUM + '_-')}",
    "jwt": _jwt,
    "aws-key-id": lambda: f"AKIA{_r(16, string.ascii_uppercase + string.digits)}",
    "stripe-live": lambda: f"sk_live_{_r(99)}",
    "stripe-test": lambda: f"sk_test_{_r(24)}",
    "twilio": lambda: f"SK{_r(32, _HEX)}",
    "sendgrid": lambda: f"SG.{_r(22, _ALNUM + '_-')}.{_r(43, _ALNUM + '_-')}",
    "npm": lambda: f"npm_{_r(36)}",
    "pypi": lambda: f"pypi-AgEIcHlwaS5vcmc{_r(120, _ALNUM + '_-')}",
    "google-api": lambda: f"AIza{_r(35, _ALNUM + '_-')}",
}


@pytest.mark.parametrize("kind", sorted(TOKENS))
@pytest.mark.parametrize("context", [
    "{}", "token {} used", '{{"value": "{}"}}', "x={}", "SELECT 1 /* {} */", "'{}',",
])
def test_token_formats_are_masked_in_any_context(kind, context):
    token = TOKENS[kind]()
    out = Redactor().text(context.format(token))
    assert MASK in out
    # no piece of it stays (a mask that stops early leaves the rest of the token readable)
    assert not any(token[i:i + 12] in out for i in range(0, len(token) - 12, 6)), out


@pytest.mark.parametrize("kind", ["RSA PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY",
                                  "EC PRIVATE KEY"])
def test_private_key_blocks_are_masked_whole_in_text_and_json(kind):
    pem = _pem(kind)
    body = pem.splitlines()[3]
    for text in (f"key:\n{pem}\nnext", json.dumps({"type": "service_account",
                                                   "private_key": pem + "\n"})):
        out = Redactor().text(text)
        assert body not in out and "BEGIN" not in out and MASK in out, out
    cut = "\n".join(pem.splitlines()[:4])  # a log line cut before the footer
    assert body not in Redactor().text(cut)


def test_gcp_service_account_json_keeps_its_other_fields():
    key = json.dumps({"type": "service_account", "project_id": "noa-prod",
                      "private_key_id": _r(40, _HEX), "private_key": _pem("PRIVATE KEY"),
                      "client_email": "noa@noa-prod.iam.gserviceaccount.com"})
    out = json.loads(Redactor().text(key))
    assert out["private_key"] == MASK
    assert out["project_id"] == "noa-prod" and out["client_email"].startswith("noa@")


def test_aws_secret_next_to_its_key_id_and_azure_connection_strings():
    key_id, secret = TOKENS["aws-key-id"](), _r(40, _ALNUM + "/+")
    for text in (f"{key_id},{secret}",
                 f"aws_access_key_id={key_id}\naws_secret_access_key={secret}",
                 f'AWS_SECRET_ACCESS_KEY="{secret}"'):
        out = Redactor().text(text)
        assert secret not in out and key_id not in out, out
    account_key = base64.b64encode(random.randbytes(64)).decode()
    conn = (f"DefaultEndpointsProtocol=https;AccountName=noabackups;AccountKey={account_key};"
            "EndpointSuffix=core.windows.net")
    out = Redactor().text(conn)
    assert account_key not in out and "AccountName=noabackups" in out
    sas = base64.b64encode(random.randbytes(32)).decode()
    out = Redactor().text(f"Endpoint=sb://noa.servicebus.windows.net/;SharedAccessKeyName=send;"
                          f"SharedAccessKey={sas}")
    assert sas not in out and "SharedAccessKeyName=send" in out


@pytest.mark.parametrize("text,secret", [
    ("api_key={s}", None), ('"client_secret": "{s}"', None), ("DB_PASSWORD={s}", None),
    ("NOA_SLACK_BOT_TOKEN={s}", None), ("Authorization: token {s}", None),
    ("Authorization: {s}", None), ("X-Api-Key: {s}", None), ("signing_key: {s}", None),
    ("redis://:{s}@redis:6379/0", None), ("https://deploy:{s}@git.example.com/noa.git", None),
])
def test_values_next_to_secret_like_names_are_masked(text, secret):
    value = _r(32)
    out = Redactor().text(text.format(s=value))
    assert value not in out and MASK in out, out


def test_keyish_names_mask_only_high_entropy_values():
    random_value = _r(32)
    assert random_value not in Redactor().text(f"cache_key={random_value}")
    for plain in ("cache_key=noa-dashboards", "sort_key: created_at", "key=value"):
        assert Redactor().text(plain) == plain


EVIDENCE = [
    f"image: registry.noa.example/noa-server@sha256:{_r(64, _HEX)}",
    f"sha256:{_r(64, _HEX)}  noa-2026-12-04.dump",
    f"{_r(64, _HEX)}  noa-2026-12-04.dump",  # sha256sum output
    f"containerID: containerd://{_r(64, _HEX)}",
    f"docker://{_r(64, _HEX)}",
    "uid: 3f2b9c1e-8d4a-4b7e-9f10-2a6c5d8e7b91",
    "restart_lsn 16/B374D848, flush 0/3000148",
    "archived 00000001000000A0000000AC and 000000010000000000000003.partial",
    f"run {_r(12, _HEX)} on commit {_r(40, _HEX)}",
    'resourceVersion: "48213377"',
    'sum(rate(noa_http_requests_total{service="noa-api",status=~"5.."}[5m])) by (pod)',
    'histogram_quantile(0.95, sum by (le) (rate(noa_ai_tokens_total{provider="openai"}[5m])))',
    "secretName: noa-db-credentials, password_file: /run/secrets/pg, token_ttl: 3600",
    "valueFrom: secretKeyRef: {name: noa-db-credentials, key: password}",
    'password = "env:NOA_STAGING_PG_PASSWORD"',
    "token expiration checked; password authentication failed for user noa_ops",
    "basic authentication required; bearer tokens expire hourly",
    "Listening on 0.0.0.0:8080 (10.42.0.17)",
    "GET /api/v1/chat 200 84ms request_id=7f3a9c2e4b1d4e8f9a0b1c2d3e4f5a6b",
]


@pytest.mark.parametrize("text", EVIDENCE, ids=[f"evidence-{i}" for i in range(len(EVIDENCE))])
def test_evidence_survives(text):
    assert Redactor().text(text) == text


def test_texts_scan_many_strings_as_one_and_keep_them_apart():
    token = TOKENS["github-ghp"]()
    values = ["first", f"x {token}", "", "sha256:" + "a" * 64, f"Authorization: {token[:4]}"]
    out = Redactor().texts(values)
    assert out == [Redactor().text(v) for v in values]
    assert out[1] == f"x {MASK}" and out[3] == values[3]
    # a value holding the separator falls back to one scan per string
    odd = ["a\n\x00\nb", f"{token}"]
    assert Redactor().texts(odd) == ["a\n\x00\nb", MASK]


def test_logging_filter_masks_message_arguments_and_tracebacks():
    token = TOKENS["slack-bot"]()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(Redactor(["known-value-123"])))
    logger = logging.getLogger("test_redaction_filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("alert %s with %s", "known-value-123", token)
        try:
            raise RuntimeError(f"backend said {token}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert token not in text and "known-value-123" not in text
    assert "RuntimeError: backend said [REDACTED]" in text and "alert [REDACTED]" in text


def test_cli_messages_are_masked(capsys):
    from noa_lib import cli

    token = TOKENS["openai-proj"]()
    cli.say(f"error: parameter 'x' got {token}")
    err = capsys.readouterr().err
    assert token not in err and MASK in err


def test_alert_receiver_and_dispatcher_logs_are_masked(caplog):
    from noa_lib.records import alert_dispatch, alerts_server

    shared = f"shared-secret-{_r(12)}"
    server = alerts_server.serve(alerts_server.ServerSettings(port=0, shared_secret=shared))
    server.start()
    token = TOKENS["gitlab"]()
    try:
        with caplog.at_level(logging.INFO):
            alert_dispatch.log.warning("alert %s names runbook %s", token, shared)
            alerts_server.log.info("webhook refused: %s", f"Authorization: Bearer {shared}")
    finally:
        server.stop(timeout=5)
    assert token not in caplog.text and shared not in caplog.text
    assert caplog.text.count(MASK) >= 3 and "names runbook" in caplog.text


def test_a_secret_registered_by_digest_is_masked_with_its_base64_form() -> None:
    import base64

    from noa_lib.journal import SECRET_MIME, secret_digest
    from noa_lib.records.runner import _registered_secrets

    value = "Zq3-hV_0pL9sX2mN7bC4dR8tY1uI6oE5aW0kJ3gF2hA"
    encoded = base64.b64encode(value.encode()).decode()
    forms = [value, encoded]
    notebook = {"cells": [{"cell_type": "code", "outputs": [{"data": {SECRET_MIME: {
        "sha256": [secret_digest(f) for f in forms], "lengths": [len(f) for f in forms]}}}]}]}
    text = f"rotated to {value} (row 3); stored as {encoded} in row 4; not {value[:-1]}x"
    assert Redactor().text(text) == text  # no pattern knows these: only the digests do
    masked = Redactor().with_digests(*_registered_secrets(notebook)).text(text)
    assert masked == f"rotated to {MASK} (row 3); stored as {MASK} in row 4; not {value[:-1]}x"
