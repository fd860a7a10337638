"""Release causes: a bad release rolled out to the api Deployment, as in production.

- ``error-spike``: a published release is marked bad (:func:`noa_sandbox.releases.mark_release`,
  ~30 % 5xx) and the api Deployment is rolled to it through the sandbox's Kubernetes API — a
  real rollout (new ReplicaSet, a revision in the history, pods replaced), so the errors come from
  the pods that run it and a rollback to the previous revision cures it.
- ``complete-outage``: the api Deployment is rolled to a published release; once every pod is
  Ready on it (the readiness checks passed), the release starts crash-looping (a latent crash:
  ``ReleaseInfo.crash``), so no api pod serves — ``kube_deployment_status_replicas_unavailable``
  equals the replicas and the api has no traffic. A rollback to the previous revision cures it.

The release picked is the newest published one the api does not run, that no pod runs and that
is not marked already (so marking it touches nothing else). ``remove`` rolls the Deployment back
only while it still runs the image the cause rolled out (a mitigation may have rolled back
already), and leaves the release's marks as the cause found them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from noa_lib.clients import kube_apps
from noa_lib.config import KubernetesSettings, load_config
from noa_lib.errors import PreconditionFailed
from noa_lib.ops.deploy.params import image_with_tag, tag_of
from noa_lib.ops.deploy.rollout import CHANGE_CAUSE, rollout_status
from noa_lib.ops.deploy.workload import image_of
from noa_sandbox.causes import Cause, register
from noa_sandbox.layout import Layout
from noa_sandbox.releases import mark_release, version_key, with_release
from noa_sandbox.simulator.scenarios import Effects
from noa_sandbox.simulator.spec import ReleaseInfo, WorldSpec, read_spec, update_spec

log = logging.getLogger(__name__)

DEPLOYMENT = "api"
NAMESPACE = "noa"
ERROR_RATE = 0.30
"""Share of 5xx answers of the pods running the bad release (``error-spike``)."""
ROLLOUT_TIMEOUT_S = 90.0


def kube_settings(layout: Layout) -> KubernetesSettings:
    """The sandbox's own Kubernetes API settings (from its published target).

    Raises:
        PreconditionFailed: the sandbox publishes no target with Kubernetes (not up).
    """
    try:
        settings = load_config(layout.target_file, env={}).target("sandbox").kubernetes
    except Exception as exc:  # noqa: BLE001 - any reason means the same: no usable sandbox
        raise PreconditionFailed(f"the sandbox in {layout.root} publishes no usable target "
                                 f"({exc}); start it with `noa sandbox up`") from None
    if settings is None:
        raise PreconditionFailed(f"the sandbox in {layout.root} has no Kubernetes API")
    return settings


def choose_release(spec: WorldSpec, current: str) -> str:
    """The release to roll the api to: the newest published release newer than ``current`` that
    no pod runs and that carries no marks, else the newest older one (pure).

    Raises:
        PreconditionFailed: every published release runs somewhere or is marked already.
    """
    running = {p.version for p in spec.pods} | {current}
    free = [v for v in spec.releases
            if v not in running and spec.releases[v].empty and spec.info(v) == ReleaseInfo()]
    if not free:
        raise PreconditionFailed("no published release is free to roll the api to (each runs "
                                 "already or is marked; `noa sandbox release --list`)")
    newer = [v for v in free if version_key(v) > version_key(current)] if current else []
    return max(newer or free, key=version_key)


def marks_of(spec: WorldSpec, version: str) -> dict[str, Any]:
    """What release ``version`` does now (its effects and flags), JSON-ready."""
    info = spec.info(version)
    return {"effects": spec.releases.get(version, Effects()).to_json(), "crash": info.crash,
            "migration_fails": info.migration_fails, "migrations": list(info.migrations)}


def restore_marks(layout: Layout, version: str, marks: Mapping[str, Any]) -> None:
    """Give release ``version`` back the marks :func:`marks_of` saved."""
    effects = Effects.from_json(marks.get("effects") or {})
    info = ReleaseInfo(crash=bool(marks.get("crash")),
                       migration_fails=bool(marks.get("migration_fails")),
                       migrations=tuple(str(m) for m in marks.get("migrations") or ()))

    def change(spec: WorldSpec) -> WorldSpec:
        if version not in spec.releases:
            return spec
        return with_release(spec, version, effects, info)

    update_spec(layout.world_file, change)


def set_image(settings: KubernetesSettings, image: str, cause: str) -> None:
    """``kubectl set image deployment/api`` (with its change-cause): a rollout."""
    dep = kube_apps.get(settings, "deployments", DEPLOYMENT, NAMESPACE)
    container = str(dep["spec"]["template"]["spec"]["containers"][0]["name"])
    body = {"metadata": {"annotations": {CHANGE_CAUSE: cause}},
            "spec": {"template": {"spec": {"containers": [{"name": container,
                                                           "image": image}]}}}}
    kube_apps.patch(settings, "deployments", DEPLOYMENT, body, NAMESPACE)


def wait_rolled_out(settings: KubernetesSettings, image: str,
                    timeout_s: float = ROLLOUT_TIMEOUT_S) -> None:
    """Wait until every api pod is updated and available on ``image``.

    Raises:
        PreconditionFailed: not complete within ``timeout_s`` (says how far it got).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        status = rollout_status(kube_apps.get(settings, "deployments", DEPLOYMENT, NAMESPACE))
        if status.complete and status.image == image:
            return
        if time.monotonic() >= deadline:
            raise PreconditionFailed(f"deployment {NAMESPACE}/{DEPLOYMENT} not rolled out to "
                                     f"{image} within {timeout_s:g} s: {status.message()}")
        time.sleep(0.5)


def _roll_out(layout: Layout, scenario: str, *, bad: bool) -> dict[str, Any]:
    settings = kube_settings(layout)
    dep = kube_apps.get(settings, "deployments", DEPLOYMENT, NAMESPACE)
    before = image_of(dep)
    spec = read_spec(layout.world_file)
    version = choose_release(spec, tag_of(before))
    image = image_with_tag(before, version)
    made: dict[str, Any] = {"deployment": DEPLOYMENT, "namespace": NAMESPACE,
                            "release": version, "image": image, "from_image": before,
                            "marks": marks_of(spec, version)}
    try:
        if bad:
            mark_release(layout.root, version, bad=True, error_rate=ERROR_RATE,
                         extra_latency_s=0.0)
        set_image(settings, image, f"sandbox scenario {scenario}: {DEPLOYMENT}={image}")
        wait_rolled_out(settings, image)
        if not bad:  # the latent crash: the release passed its readiness checks, then crashes
            mark_release(layout.root, version, crash=True)
    except Exception:
        try:
            remove(layout, made)
        except Exception:  # noqa: BLE001 - the first failure is the one to report
            log.warning("could not undo the half-made %s cause", scenario, exc_info=True)
        raise
    return made


def create_error_spike(layout: Layout) -> dict[str, Any]:
    """Mark a release bad and roll the api Deployment to it; returns what was made."""
    return _roll_out(layout, "error-spike", bad=True)


def create_outage(layout: Layout) -> dict[str, Any]:
    """Roll the api Deployment to a release, then make it crash-loop; returns what was made."""
    return _roll_out(layout, "complete-outage", bad=False)


def remove(layout: Layout, made: Mapping[str, Any]) -> None:
    """Roll the api back to the image it ran (only while it still runs the cause's image) and
    give the release its marks back."""
    image, before = str(made.get("image") or ""), str(made.get("from_image") or "")
    settings = kube_settings(layout)
    dep = kube_apps.find(settings, "deployments", DEPLOYMENT, NAMESPACE)
    rolled_back = False
    if dep is not None and image and before and image_of(dep) == image:
        set_image(settings, before, f"sandbox scenario ended: {DEPLOYMENT}={before}")
        rolled_back = True
    if made.get("release"):
        restore_marks(layout, str(made["release"]), made.get("marks") or {})
    if rolled_back:
        wait_rolled_out(settings, before)


register(Cause("error-spike", "a bad release (~30 % 5xx) rolled out to the api Deployment",
               create_error_spike, remove))
register(Cause("complete-outage", "every api pod crash-loops: the release rolled out to the "
               "api Deployment crashes after passing its readiness checks", create_outage,
               remove))

__all__ = ["choose_release", "create_error_spike", "create_outage", "kube_settings", "marks_of",
           "remove", "restore_marks"]
