"""NOA Runbooks: the library behind NOA Server's runbook notebooks.

Notebooks import only this facade::

    import noa_lib as noa
    target = noa.load_target(target)
    findings = noa.check_backends(target)
    noa.findings_table(findings)
    noa.record_outcome(findings=findings)

Names resolve lazily (PEP 562) so ``import noa_lib`` stays cheap in a kernel: the SDKs behind a
name are imported the first time that name is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from noa_lib.errors import (
    ClientError,
    ConfigError,
    Conflict,
    NoaError,
    NotFound,
    ParameterError,
    PreconditionFailed,
    StepFailed,
    Timeout,
    Unavailable,
    UnsafeActionRefused,
)

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    # configuration
    "load_config": "noa_lib.config",
    "load_target": "noa_lib.ops.targets",
    "Target": "noa_lib.config",
    # findings and thresholds
    "Finding": "noa_lib.ops.findings",
    "Status": "noa_lib.ops.findings",
    "worst": "noa_lib.ops.findings",
    "THRESHOLDS": "noa_lib.ops.thresholds",
    "threshold": "noa_lib.ops.thresholds",
    # runbook steps
    "check_backends": "noa_lib.ops.connectivity",
    "latency_figures": "noa_lib.ops.connectivity",
    "database_health": "noa_lib.ops.database",
    # safety
    "Plan": "noa_lib.ops.safety",
    "Change": "noa_lib.ops.safety",
    "apply_plan": "noa_lib.ops.safety",
    # rendering
    "findings_table": "noa_lib.show.findings",
    "target_table": "noa_lib.show.targets",
    "show_plan": "noa_lib.show.plans",
    "record_outcome": "noa_lib.show.outcome",
}

__all__ = [
    "ClientError",
    "ConfigError",
    "Conflict",
    "NoaError",
    "NotFound",
    "ParameterError",
    "PreconditionFailed",
    "StepFailed",
    "Timeout",
    "Unavailable",
    "UnsafeActionRefused",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'noa_lib' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from noa_lib.config import Target, load_config
    from noa_lib.ops.connectivity import check_backends, latency_figures
    from noa_lib.ops.database import database_health
    from noa_lib.ops.findings import Finding, Status, worst
    from noa_lib.ops.safety import Change, Plan, apply_plan
    from noa_lib.ops.targets import load_target
    from noa_lib.ops.thresholds import THRESHOLDS, threshold
    from noa_lib.show.findings import findings_table
    from noa_lib.show.outcome import record_outcome
    from noa_lib.show.plans import show_plan
    from noa_lib.show.targets import target_table
