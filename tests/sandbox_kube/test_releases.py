"""Releases of the sandbox registry and the locked world file (no server needed)."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from noa_lib.cli import main
from noa_lib.errors import ParameterError, PreconditionFailed
from noa_sandbox import releases
from noa_sandbox.kube import registry
from noa_sandbox.layout import Layout
from noa_sandbox.simulator.catalog import Pod
from noa_sandbox.simulator.spec import read_spec, update_spec


def test_default_releases_are_published_and_marking_changes_only_that_release(
    tmp_path: Path,
) -> None:
    layout = Layout(tmp_path)
    rows = releases.list_releases(tmp_path)
    assert [r.version for r in rows] == ["2.12.0", "2.13.0", "2.14.0", "2.15.0", "2.15.1"]
    assert all(r.healthy for r in rows)
    bad = releases.mark_release(tmp_path, "2.15.1", bad=True, error_rate=0.3)
    assert (bad.error_rate, bad.extra_latency_s) == (0.3, 0.8)
    spec = read_spec(layout.world_file)
    assert spec.effects_for(Pod("api-x", "api", "2.15.1")).error_5xx["api"] == 0.3
    assert "api" not in spec.effects_for(Pod("api-y", "api", "2.14.0")).error_5xx
    crash = releases.mark_release(tmp_path, "2.15.1", crash=True, migration_fails=True)
    assert crash.crash and crash.migration_fails and crash.error_rate == 0.3  # flags add up
    assert releases.mark_release(tmp_path, "2.15.1", good=True).healthy
    assert releases.migrations_of(spec, "2.15.1")[-1] == "0042_add_usage_index"
    assert "0042_add_usage_index" not in spec.migrations_applied


def test_publishing_and_refusals(tmp_path: Path) -> None:
    spec = read_spec(Layout(tmp_path).world_file)
    assert registry.image_digest(spec, "noa-server", "2.16.0") is None
    with pytest.raises(ParameterError) as err:
        releases.mark_release(tmp_path, "2.16.0", bad=True)
    assert err.value.name == "version" and "--publish" in str(err.value)
    with pytest.raises(ParameterError):
        releases.mark_release(tmp_path, "latest")
    with pytest.raises(ParameterError):
        releases.mark_release(tmp_path, "2.15.0", error_rate=2.0, bad=True)
    with pytest.raises(ParameterError):
        releases.mark_release(tmp_path, "2.15.0", good=True, crash=True)
    with pytest.raises(PreconditionFailed):
        releases.mark_release(tmp_path / "nope", "2.15.0", bad=True)
    assert releases.mark_release(tmp_path, "2.16.0-rc.1", publish=True).healthy
    spec = read_spec(Layout(tmp_path).world_file)
    assert registry.image_digest(spec, "noa-server", "2.16.0-rc.1") == registry.digest(
        "noa-server", "2.16.0-rc.1")
    assert registry.pullable(spec, f"{registry.IMAGE}:2.16.0-rc.1")
    assert not registry.pullable(spec, f"{registry.IMAGE}:9.9.9")
    assert registry.pullable(spec, "busybox:1.36")  # other registries: not ours to refuse


def test_update_spec_serialises_concurrent_writers(tmp_path: Path) -> None:
    path = Layout(tmp_path).world_file
    names = [f"extra-{i}" for i in range(40)]

    def add(name: str) -> None:
        update_spec(path, lambda s: replace(s, pods=(*s.pods, Pod(name, "api"))))

    threads = [threading.Thread(target=add, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pods = {p.name for p in read_spec(path).pods}
    assert set(names) <= pods  # no lost update


def test_cli_lists_and_marks_releases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NOA_SANDBOX_DIR", str(tmp_path))
    assert main(["sandbox", "release", "2.15.0", "--bad", "--error-rate", "0.4"]) == 0
    assert "release 2.15.0: 40% errors" in capsys.readouterr().err
    assert main(["sandbox", "release", "--list"]) == 0
    out = capsys.readouterr().out
    assert "2.15.0" in out and "40%" in out
    assert main(["sandbox", "release", "7.0.0", "--crash"]) != 0
