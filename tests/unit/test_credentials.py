"""The credential parameter of incident/security_breach, its guard rails, and how a credential's
users are found (pure logic, no backend)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from noa_lib.errors import ParameterError, UnsafeActionRefused
from noa_lib.ops.credentials import guards
from noa_lib.ops.credentials.parse import Credential, parse_credential
from noa_lib.ops.credentials.rotate import _with_password
from noa_lib.ops.credentials.users import dsn_user, role_keys, secret_keys, uses
from noa_lib.ops.findings import Status


def test_each_accepted_form_parses() -> None:
    assert parse_credential("") is None
    assert parse_credential("  ") is None
    assert parse_credential("postgres:noa_app") == Credential("postgres", "noa_app")
    assert parse_credential("secret:noa-db-credentials") == Credential(
        "secret", "noa-db-credentials")
    assert parse_credential("secret:openai-key/api-key.txt") == Credential(
        "secret", "openai-key", key="api-key.txt")
    keys = parse_credential("api_keys:42|125, 124,124|noa_sk_3f9a")
    assert keys == Credential("api_keys", "42", key_ids=(124, 125), prefix="noa_sk_3f9a")
    assert keys.org_id == 42 and keys.describe() == "api_keys:42|124,125|noa_sk_3f9a"
    assert parse_credential("api_keys:7||") == Credential("api_keys", "7")


@pytest.mark.parametrize("text", [
    "noa_app",  # no kind
    "mysql:root",  # unknown kind
    "postgres:",  # no role
    "postgres:Robert'); DROP TABLE users;--",
    "secret:Not_A_Name",
    "secret:noa-db-credentials/",  # empty key
    "secret:noa/has space",
    "api_keys:42|124",  # two parts
    "api_keys:acme|1|",  # organization not a number
    "api_keys:0|1|",
    "api_keys:42|1,x|",
    "api_keys:42||noa-sk'%",
])
def test_a_malformed_credential_names_the_parameter_and_the_accepted_forms(text: str) -> None:
    with pytest.raises(ParameterError) as err:
        parse_credential(text)
    assert err.value.name == "credential"
    assert "postgres:<role>" in str(err.value) and "secret:<name>[/<key>]" in str(err.value)
    assert "api_keys:<org id>|<key id,...>|<prefix>" in (err.value.accepted or "")


def test_superusers_and_the_runbooks_own_role_are_refused() -> None:
    with pytest.raises(UnsafeActionRefused, match="'postgres' is a superuser"):
        guards.refuse_role({"role": "postgres", "superuser": True, "own_role": False})
    with pytest.raises(UnsafeActionRefused, match="'noa_ops' is the role this runbook connects"):
        guards.refuse_role({"role": "noa_ops", "superuser": False, "own_role": True})
    guards.refuse_role({"role": "noa_app", "superuser": False, "own_role": False})


def test_a_secret_key_holding_a_role_password_is_rotated_with_the_role() -> None:
    secret = Credential("secret", "noa-db-credentials")
    with pytest.raises(UnsafeActionRefused, match="credential='postgres:noa_app'"):
        guards.refuse_role_secret(secret, [("password", "noa_app")])
    guards.refuse_role_secret(secret, [])


def test_rotating_without_users_is_refused_unless_no_users_ok() -> None:
    cred = Credential("secret", "unused")
    with pytest.raises(UnsafeActionRefused, match="no_users_ok=True") as err:
        guards.require_users(cred, [], no_users_ok=False)
    assert "nothing is known to use secret:unused" in str(err.value)
    assert guards.require_users(cred, [], no_users_ok=True).status == Status.WARNING
    named = guards.require_users(cred, ["deployment/api (3 pods)"], no_users_ok=False)
    assert named.status == Status.OK and "deployment/api (3 pods)" in named.message


def _secret(name: str, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def test_secrets_holding_a_role_are_found_by_username_or_dsn() -> None:
    creds = _secret("db", username="noa_app", password="pw1", host="db.internal")
    assert [(k.key, k.form) for k in role_keys(creds, "noa_app")] == [("password", "password")]
    assert role_keys(creds, "noa_ops") == []
    dsn = _secret("dsn", DATABASE_URL="postgresql://noa_app:pw2@db:5432/noa", other="x")
    assert [(k.key, k.form) for k in role_keys(dsn, "noa_app")] == [("DATABASE_URL", "dsn")]
    assert dsn_user("postgres://u@h/db") == "u" and dsn_user("https://u:p@h/") is None
    assert secret_keys(creds) == ["password"]
    assert secret_keys(creds, "host") == ["host"] and secret_keys(creds, "nope") == []


def test_a_dsn_keeps_everything_but_its_password() -> None:
    assert (_with_password("postgresql://noa_app:old@db:5432/noa?sslmode=require", "NEW")
            == "postgresql://noa_app:NEW@db:5432/noa?sslmode=require")


def test_every_way_a_pod_template_reads_a_secret_is_seen() -> None:
    deployment = {"spec": {"template": {"spec": {
        "initContainers": [{"name": "migrate", "envFrom": [{"secretRef": {"name": "s"}}]}],
        "containers": [{"name": "api", "env": [
            {"name": "DATABASE_PASSWORD",
             "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}},
            {"name": "OTHER", "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}}]}],
        "volumes": [{"name": "creds", "secret": {"secretName": "s"}},
                    {"name": "bundle", "projected": {"sources": [{"secret": {"name": "s"}}]}}],
    }}}}
    assert uses(deployment, "s") == ("envFrom migrate", "env DATABASE_PASSWORD (password)",
                                     "volume creds", "projected volume bundle")
    assert uses(deployment, "t") == ("env OTHER (k)",)
    assert uses(deployment, "u") == ()


def test_secret_keys_holding_a_role_are_named_with_the_role() -> None:
    from noa_lib.ops.credentials.users import held_roles

    creds = _secret("db", DB_USER="noa_app", DB_PASSWORD="pw", API_TOKEN="t",
                    URL="postgres://reporter:pw@db/noa")
    assert held_roles(creds, ["DB_PASSWORD", "API_TOKEN", "URL"]) == [
        ("URL", "reporter"), ("DB_PASSWORD", "noa_app")]
    assert held_roles(creds, ["API_TOKEN"]) == []
