"""Resolve the ``target`` parameter of a runbook into its configuration."""

from __future__ import annotations

from noa_lib.config import Target, load_config


def load_target(name: str | None = None) -> Target:
    """The configured target called ``name`` (default: the configured default target).

    Raises:
        ConfigError: no such target; the message lists the configured ones.
    """
    return load_config().target(name)


__all__ = ["load_target"]
