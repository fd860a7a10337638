from __future__ import annotations

import pytest

from noa_lib.config import load_config
from noa_lib.records.redaction import MASK, Redactor, known_secrets


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
