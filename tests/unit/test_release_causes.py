"""The release causes' pure parts: which release they roll out, the marks they save and give
back, and that the simulated NOA Server follows a bad release on the api pods only."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from noa_lib.errors import PreconditionFailed
from noa_sandbox.causes import CAUSES, _load, bad_release
from noa_sandbox.layout import Layout
from noa_sandbox.releases import bad_effects
from noa_sandbox.simulator.catalog import Pod
from noa_sandbox.simulator.exporter import WorldCollector
from noa_sandbox.simulator.scenarios import SCENARIOS
from noa_sandbox.simulator.spec import ReleaseInfo, WorldSpec, read_spec, write_spec
from noa_sandbox.simulator.world import World


def test_the_newest_free_release_newer_than_the_api_is_chosen() -> None:
    spec = WorldSpec()
    assert bad_release.choose_release(spec, "2.14.0") == "2.15.1"
    marked = replace(spec, releases=MappingProxyType(
        {**spec.releases, "2.15.1": bad_effects(0.3, 0.0)}))
    assert bad_release.choose_release(marked, "2.14.0") == "2.15.0"
    running = replace(spec, pods=(Pod("api-0", "api", "2.15.1"), Pod("web-0", "web", "2.15.0")))
    # nothing newer is free: the newest older one that no pod runs
    assert bad_release.choose_release(running, "2.15.1") == "2.14.0"
    crashing = replace(spec, release_info=MappingProxyType(
        {v: ReleaseInfo(crash=True) for v in spec.releases}))
    with pytest.raises(PreconditionFailed, match="no published release is free"):
        bad_release.choose_release(crashing, "2.14.0")


def test_marks_are_given_back_as_they_were_found(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.world_file.parent.mkdir(parents=True)
    spec = replace(WorldSpec(), release_info=MappingProxyType(
        {"2.15.0": ReleaseInfo(migrations=("0043_extra",))}))
    write_spec(layout.world_file, spec)
    saved = {v: bad_release.marks_of(spec, v) for v in ("2.15.0", "2.15.1")}
    changed = replace(spec, releases=MappingProxyType(
        {**spec.releases, "2.15.0": bad_effects(0.3, 0.0), "2.15.1": bad_effects(0.5, 1.0)}),
        release_info=MappingProxyType({"2.15.1": ReleaseInfo(crash=True)}))
    write_spec(layout.world_file, changed)
    for version, marks in saved.items():
        bad_release.restore_marks(layout, version, marks)
    back = read_spec(layout.world_file)
    assert back.releases == spec.releases and back.release_info == spec.release_info


def test_error_spike_and_outage_are_real_causes_without_static_effects() -> None:
    _load()
    for name in ("error-spike", "complete-outage"):
        assert SCENARIOS[name].effects.empty
        assert CAUSES[name].remove is bad_release.remove


def test_only_the_pods_running_the_bad_release_fail() -> None:
    bad = "2.15.1"
    pods = (Pod("api-0", "api", bad), Pod("api-1", "api", bad), Pod("api-2", "api", bad),
            Pod("worker-0", "worker"), Pod("web-0", "web"))
    spec = replace(WorldSpec(since=1_764_770_000.0, epoch=1_764_770_000.0 - 91 * 86_400),
                   pods=pods, releases=MappingProxyType(
                       {**WorldSpec().releases,
                        bad: bad_effects(bad_release.ERROR_RATE, 0.0)}))
    world = World(spec, seed=7)
    for i in range(40):
        world.step(spec.since + i + 1, 1.0)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorldCollector(world))
    totals: dict[tuple[str, str], list[float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            if s.name != "noa_http_requests_total":
                continue
            key = (s.labels["service"], s.labels["version"])
            errors, everything = totals.setdefault(key, [0.0, 0.0])
            totals[key] = [errors + (s.value if s.labels["status"].startswith("5") else 0.0),
                           everything + s.value]
    share = {key: errors / everything for key, (errors, everything) in totals.items()}
    assert share[("api", bad)] > 0.2
    assert share[("worker", "2.14.0")] < 0.02 and share[("web", "2.14.0")] < 0.02
