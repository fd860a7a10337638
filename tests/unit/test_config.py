from __future__ import annotations

from pathlib import Path

import pytest

from noa_lib.config import SecretRef, load_config
from noa_lib.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "noa.toml"
    path.write_text(text)
    return path


def test_targets_sections_and_protected(tmp_path):
    cfg = load_config(write(tmp_path, """
default_target = "stage"
[targets.stage.postgres]
host = "db"
port = 6543
password = "env:STAGE_PW"
[targets.prod]
protected = true
[targets.prod.prometheus]
url = "http://prom:9090"
"""), env={})
    stage = cfg.target()
    assert stage.name == "stage" and stage.postgres is not None
    assert stage.postgres.port == 6543 and stage.s3 is None
    assert isinstance(stage.postgres.password, SecretRef)
    assert cfg.target("prod").protected
    assert cfg.reports_dir == (tmp_path / "reports").resolve()


def test_secrets_must_be_references(tmp_path):
    with pytest.raises(ConfigError, match="must be a reference"):
        load_config(write(tmp_path, '[targets.x.postgres]\npassword = "hunter22"\n'), env={})


def test_secret_refs_resolve_only_on_demand(tmp_path, monkeypatch):
    (tmp_path / "pw").write_text("from-file\n")
    cfg = load_config(write(tmp_path, """
[targets.x.postgres]
password = "file:pw"
[targets.x.s3]
access_key_id = "env:X_KEY"
secret_access_key = "env:X_MISSING"
"""), env={})
    t = cfg.target("x")
    assert "from-file" not in repr(t)
    assert t.postgres.password.resolve() == "from-file"
    monkeypatch.setenv("X_KEY", "AKIAEXAMPLE")
    assert t.s3.access_key_id.resolve() == "AKIAEXAMPLE"
    with pytest.raises(ConfigError, match="X_MISSING"):
        t.s3.secret_access_key.resolve()
    assert sorted(t.secret_values()) == ["AKIAEXAMPLE", "from-file"]


def test_env_overrides_and_default_target(tmp_path):
    cfg = load_config(write(tmp_path, '[targets.prod.postgres]\nhost = "a"\n'), env={
        "NOA_TARGET__PROD__POSTGRES__HOST": "b",
        "NOA_TARGET__PROD____PROTECTED": "true",
        "NOA_TARGET__NEW__S3__BACKUP_BUCKET": "bk",
        "NOA_TARGET": "new",
        "NOA_REPORTS_DIR": str(tmp_path / "r"),
    })
    assert cfg.target("prod").postgres.host == "b"
    assert cfg.target("prod").protected
    assert cfg.target().name == "new" and cfg.target().s3.backup_bucket == "bk"
    assert cfg.reports_dir == tmp_path / "r"


def test_includes_are_optional_and_relative(tmp_path):
    (tmp_path / "sb").mkdir()
    (tmp_path / "sb" / "target.toml").write_text(
        '[targets.sandbox.postgres]\npassword = "file:secrets/pw"\n')
    (tmp_path / "sb" / "secrets").mkdir()
    (tmp_path / "sb" / "secrets" / "pw").write_text("pw1")
    cfg = load_config(write(tmp_path, 'include = ["sb/target.toml", "missing/target.toml"]\n'),
                      env={})
    assert cfg.target("sandbox").postgres.password.resolve() == "pw1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[targets.x]\nbogus = 1\n", "unknown keys"),
        ("[targets.x.postgres]\nport = 'abc'\n", "must be int"),
        ("[targets.Bad_Name]\n", "not valid"),
        ("not toml = = 1\n", "invalid TOML"),
        ("[targets.x.postgres]\npassword = 'env:'\n", "not valid"),
    ],
)
def test_bad_configuration_is_a_clear_error(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), env={})


def test_unknown_target_lists_configured_ones(tmp_path):
    cfg = load_config(write(tmp_path, "[targets.a]\n[targets.b]\n"), env={})
    with pytest.raises(ConfigError, match="configured targets: a, b"):
        cfg.target("c")
