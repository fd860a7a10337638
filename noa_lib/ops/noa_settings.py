"""NOA Server's runtime settings in its ConfigMap (``noa-config``): the keys the incident runbooks
change and reading one.

NOA Server reloads these keys live (it watches its ConfigMap through the Kubernetes API), so a
change needs no restart; the runbooks verify in Prometheus that the pods followed it.
"""

from __future__ import annotations

from collections.abc import Callable

from noa_lib.clients import kube_apps
from noa_lib.config import Target
from noa_lib.errors import ParameterError
from noa_lib.ops.deploy.configmaps import config_change_plan
from noa_lib.ops.deploy.context import kube_context
from noa_lib.ops.names import validate_name
from noa_lib.ops.promql import parse_duration
from noa_lib.ops.safety import Plan

CONFIG_NAME = "noa-config"
PRIMARY_KEY = "AI_PROVIDER_PRIMARY"
"""The AI provider NOA sends its calls to."""
RATE_LIMIT_KEY = "RATE_LIMIT_PER_KEY_RPS"
"""Requests per second one API key may send before NOA answers 429 (absent or 0: no limit)."""


def current_setting(target: Target, key: str, *, config_name: str = CONFIG_NAME,
                    namespace: str = "") -> tuple[str, str | None]:
    """``(namespace, value of key in ConfigMap config_name)`` (``None``: the key is absent).

    Raises:
        ParameterError: a bad ConfigMap or namespace name. ConfigError: no Kubernetes section.
        NotFound / ClientError: the API failed.
    """
    kc = kube_context(target, namespace)
    validate_name(config_name, "config_name", "subdomain")
    data = kube_apps.get(kc.settings, "configmaps", config_name, kc.namespace).get("data") or {}
    value = data.get(key)
    return kc.namespace, None if value is None else str(value)


def setting_plans(target: Target, key: str, new: str, old: str | None, *, config_name: str,
                  namespace: str) -> tuple[Plan, Callable[[], Plan]]:
    """The plan setting ``key`` to ``new`` and the function building the plan that puts ``old``
    back (``None``: removes the key again)."""
    plan = config_change_plan(target, config_name, {key: new}, namespace=namespace)

    def revert() -> Plan:
        return config_change_plan(target, config_name, {key: old}, namespace=namespace)

    return plan, revert


def duration(value: str, parameter: str) -> float:
    """Seconds of the duration ``value``; ``ParameterError`` naming ``parameter`` otherwise."""
    try:
        return parse_duration(value)
    except ParameterError as exc:
        raise ParameterError(f"{parameter}={value!r}: {exc}", name=parameter,
                             accepted="a Prometheus-style duration, e.g. 30s, 5m, 1h, 1d"
                             ) from None


__all__ = ["CONFIG_NAME", "PRIMARY_KEY", "RATE_LIMIT_KEY", "current_setting", "duration",
           "setting_plans"]
