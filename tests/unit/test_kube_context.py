"""The Kubernetes context ops/deploy works in: built once from a target, frozen, typed."""

from __future__ import annotations

import dataclasses

import pytest

from noa_lib.config import KubernetesSettings, Target
from noa_lib.errors import ConfigError
from noa_lib.ops.deploy.context import kube_context, namespace_for


def test_context_carries_the_targets_settings_and_namespace():
    settings = KubernetesSettings(api_url="http://127.0.0.1:1", namespace="noa")
    target = Target("dev", kubernetes=settings)
    kc = kube_context(target)
    assert (kc.target, kc.settings, kc.namespace) == (target, settings, "noa")
    assert kube_context(target, "other").namespace == "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        kc.namespace = "x"  # type: ignore[misc]


def test_a_target_without_kubernetes_is_a_config_error_unless_the_namespace_is_given():
    with pytest.raises(ConfigError, match="no \\[kubernetes\\] section"):
        kube_context(Target("bare"), "noa")
    with pytest.raises(ConfigError):
        namespace_for(Target("bare"))
    assert namespace_for(Target("bare"), "noa") == "noa"  # a database hand-off needs no API
