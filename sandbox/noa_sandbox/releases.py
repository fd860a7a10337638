"""``noa sandbox release``: the NOA Server releases the sandbox registry publishes, their faults.

The sandbox registry (served by the sandbox Kubernetes API on ``/v2/``) publishes
``registry.noa.example/noa-server`` with the tags in the world file's ``releases``
(``2.12.0`` … ``2.15.1`` from the start). Marking a release changes what the pods running that tag
do — and only those pods:

- ``--bad`` — 5xx responses (``--error-rate``, default 0.25) and extra latency
  (``--extra-latency`` seconds, default 0.8) in the simulator's metrics, the pods' logs and the
  service proxy's answers;
- ``--crash`` — its pods start but crash-loop (``CrashLoopBackOff``, never Ready);
- ``--migration-fails`` — its database migration Job fails (``BackoffLimitExceeded``);
- ``--good`` — clears all of the above; ``--publish`` adds a new tag to the registry.

An image whose tag is not published cannot be pulled (``ImagePullBackOff``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

from noa_lib.errors import ParameterError, PreconditionFailed
from noa_sandbox.layout import Layout, default_state_dir
from noa_sandbox.simulator import catalog
from noa_sandbox.simulator.scenarios import Effects
from noa_sandbox.simulator.spec import ReleaseInfo, WorldSpec, read_spec, update_spec

VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$")
DEFAULT_ERROR_RATE = 0.25
DEFAULT_EXTRA_LATENCY_S = 0.8


@dataclass(frozen=True)
class Release:
    """One published tag and what it does."""

    version: str
    error_rate: float
    extra_latency_s: float
    crash: bool
    migration_fails: bool
    migrations: tuple[str, ...]
    pods: int

    @property
    def healthy(self) -> bool:
        return not (self.error_rate or self.extra_latency_s or self.crash or self.migration_fails)


def validate_version(version: str) -> str:
    """``version`` when it is a semantic version (``2.15.0``, ``2.16.0-rc.1``).

    Raises:
        ParameterError: anything else.
    """
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise ParameterError(
            f"release version {version!r} is not a semantic version like 2.15.0",
            name="version",
            accepted="X.Y.Z[-pre]",
        )
    return version


def version_key(version: str) -> tuple[int, ...]:
    """Sort key of a version (its numeric part)."""
    core = version.split("-", 1)[0]
    return tuple(int(part) for part in core.split("."))


def migrations_of(spec: WorldSpec, version: str) -> tuple[str, ...]:
    """Every migration release ``version`` expects: those of the releases up to it, plus its
    own extra ones."""
    out: list[str] = []
    for known, names in catalog.MIGRATIONS.items():
        if version_key(known) <= version_key(version):
            out.extend(names)
    out.extend(m for m in spec.info(version).migrations if m not in out)
    return tuple(out)


def describe(spec: WorldSpec) -> list[Release]:
    """The published releases, oldest first."""
    rows = []
    for version in sorted(spec.releases, key=version_key):
        effects = spec.releases[version]
        info = spec.info(version)
        rows.append(
            Release(
                version=version,
                error_rate=max(effects.error_5xx.values(), default=0.0),
                extra_latency_s=max(effects.extra_latency_s.values(), default=0.0),
                crash=info.crash,
                migration_fails=info.migration_fails,
                migrations=migrations_of(spec, version),
                pods=sum(1 for p in spec.pods if p.version == version),
            )
        )
    return rows


def list_releases(state_dir: Path | None = None) -> list[Release]:
    """The releases of the sandbox in ``state_dir`` (the defaults before the first ``up``).

    Raises:
        PreconditionFailed: the world file is unreadable.
    """
    layout = Layout(state_dir if state_dir is not None else default_state_dir())
    try:
        return describe(read_spec(layout.world_file))
    except (OSError, ValueError) as exc:
        raise PreconditionFailed(f"the sandbox world file is unreadable: {exc}") from None


def with_release(spec: WorldSpec, version: str, effects: Effects, info: ReleaseInfo
                 ) -> WorldSpec:
    """``spec`` with release ``version``'s effects and flags set (default flags are not kept)."""
    releases = dict(spec.releases)
    releases[version] = effects
    infos = dict(spec.release_info)
    infos.pop(version, None)
    if info != ReleaseInfo():
        infos[version] = info
    return replace(spec, releases=MappingProxyType(releases),
                   release_info=MappingProxyType(infos))


def bad_effects(error_rate: float, extra_latency_s: float) -> Effects:
    """The effects of a bad build: errors on every service, latency on the database-bound ones."""
    return Effects(
        error_5xx=MappingProxyType({s: error_rate for s in catalog.SERVICES} if error_rate else {}),
        extra_latency_s=MappingProxyType(
            {"api": extra_latency_s, "worker": extra_latency_s} if extra_latency_s else {}
        ),
    )


def mark_release(
    state_dir: Path | None,
    version: str,
    *,
    bad: bool = False,
    error_rate: float = DEFAULT_ERROR_RATE,
    extra_latency_s: float = DEFAULT_EXTRA_LATENCY_S,
    crash: bool = False,
    migration_fails: bool = False,
    good: bool = False,
    publish: bool = False,
) -> Release:
    """Mark (or publish) release ``version`` in the sandbox in ``state_dir``.

    Flags add to what the release already does; ``good`` clears everything first.

    Returns:
        The release as it is now.

    Raises:
        ParameterError: bad version, rate or latency, ``good`` with a fault flag, or a tag that
            is not published (without ``publish``).
        PreconditionFailed: no sandbox in ``state_dir`` (run ``noa sandbox up``).
    """
    validate_version(version)
    if not 0.0 <= error_rate <= 1.0:
        raise ParameterError(f"error rate {error_rate} is not in [0, 1]", name="error_rate",
                             accepted="0.0 .. 1.0")
    if not 0.0 <= extra_latency_s <= 30.0:
        raise ParameterError(f"extra latency {extra_latency_s}s is not in [0, 30]",
                             name="extra_latency", accepted="0 .. 30 seconds")
    if good and (bad or crash or migration_fails):
        raise ParameterError("--good clears a release; do not combine it with --bad, --crash "
                             "or --migration-fails", name="good", accepted="--good alone")
    layout = Layout(state_dir if state_dir is not None else default_state_dir())
    if not layout.root.is_dir():
        raise PreconditionFailed(f"no sandbox in {layout.root}; start it with `noa sandbox up`")

    def change(spec: WorldSpec) -> WorldSpec:
        if version not in spec.releases and not publish:
            accepted = ", ".join(sorted(spec.releases, key=version_key))
            raise ParameterError(
                f"release {version} is not published in the sandbox registry; add "
                "--publish to publish it",
                name="version",
                accepted=accepted,
            )
        effects = Effects() if good else spec.releases.get(version, Effects())
        info = ReleaseInfo() if good else spec.info(version)
        if bad:
            effects = bad_effects(error_rate, extra_latency_s)
        info = replace(
            info, crash=info.crash or crash, migration_fails=info.migration_fails or migration_fails
        )
        return with_release(spec, version, effects, info)

    spec = update_spec(layout.world_file, change)
    return next(r for r in describe(spec) if r.version == version)


__all__ = [
    "Release",
    "bad_effects",
    "describe",
    "list_releases",
    "mark_release",
    "migrations_of",
    "validate_version",
    "version_key",
    "with_release",
]
