"""The sandbox's own Kubernetes API for the causes: its settings from the published target."""

from __future__ import annotations

from noa_lib.config import KubernetesSettings, load_config
from noa_lib.errors import PreconditionFailed
from noa_sandbox.layout import Layout

NAMESPACE = "noa"


def settings(layout: Layout) -> KubernetesSettings:
    """The Kubernetes settings of the sandbox in ``layout`` (its ``target.toml``).

    Raises:
        PreconditionFailed: the sandbox publishes no Kubernetes API.
    """
    target = load_config(layout.target_file, env={}).target("sandbox")
    if target.kubernetes is None:
        raise PreconditionFailed(f"the sandbox in {layout.root} has no Kubernetes API")
    return target.kubernetes


__all__ = ["NAMESPACE", "settings"]
