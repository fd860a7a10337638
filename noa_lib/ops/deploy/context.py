"""The Kubernetes context every ops/deploy step works in: one typed value instead of loose settings.

:func:`kube_context` reads it from a target once; plans and waits take the :class:`KubeContext`
(frozen: the API settings the ``clients.kube_*`` functions build their API clients from, the
namespace, and the target the plans are for) rather than ``settings, namespace`` positionally.
"""

from __future__ import annotations

from dataclasses import dataclass

from noa_lib.config import KubernetesSettings, Target
from noa_lib.errors import ConfigError


@dataclass(frozen=True)
class KubeContext:
    """Where a deploy step acts: ``target`` (plans name it), its Kubernetes ``settings`` (every
    API client is built from them, with their timeouts and credentials) and the ``namespace``."""

    target: Target
    settings: KubernetesSettings
    namespace: str


def kube_settings(target: Target) -> KubernetesSettings:
    """The target's Kubernetes settings.

    Raises:
        ConfigError: the target has no ``[kubernetes]`` section.
    """
    if target.kubernetes is None:
        raise ConfigError(f"target {target.name!r} has no [kubernetes] section")
    return target.kubernetes


def namespace_for(target: Target, namespace: str = "") -> str:
    """``namespace``, or the target's configured one when empty (only then is a ``[kubernetes]``
    section needed: a database hand-off names its namespace without talking to Kubernetes).

    Raises:
        ConfigError: ``namespace`` is empty and the target has no ``[kubernetes]`` section.
    """
    return namespace or kube_settings(target).namespace


def kube_context(target: Target, namespace: str = "") -> KubeContext:
    """The context for ``target`` in ``namespace`` (default: the target's configured one).

    Raises:
        ConfigError: the target has no ``[kubernetes]`` section.
    """
    settings = kube_settings(target)
    return KubeContext(target, settings, namespace or settings.namespace)


__all__ = ["KubeContext", "kube_context", "kube_settings", "namespace_for"]
