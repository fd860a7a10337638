"""AI providers rendered for the failover runbook: one row per provider."""

from __future__ import annotations

from typing import TYPE_CHECKING

from noa_lib.ops.ai_failover import FailoverDiagnosis

if TYPE_CHECKING:
    import pandas as pd

_COLUMNS = ["provider", "role", "calls/s", "share %", "errors %", "p95 s", "cost USD/h",
            "breaker", "healthy"]


def ai_providers_table(diagnosis: FailoverDiagnosis) -> pd.DataFrame:
    """Per provider: role (primary / failing / fallback), call rate and share, error rate, p95
    latency, cost per hour, breaker state and whether it counts as healthy."""
    import pandas as pd

    rows = []
    for p in diagnosis.providers:
        roles = [name for name, who in (("primary", diagnosis.primary),
                                        ("failing", diagnosis.failing),
                                        ("switch to", diagnosis.fallback)) if who == p.provider]
        rows.append({"provider": p.provider, "role": ", ".join(roles), "calls/s": p.calls_per_s,
                     "share %": round(p.share * 100, 1), "errors %": p.error_pct,
                     "p95 s": p.latency_p95_s, "cost USD/h": p.cost_per_hour,
                     "breaker": p.breaker_state, "healthy": "yes" if p.healthy else "no"})
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    frame.attrs["title"] = (f"AI providers over {diagnosis.window} (primary in "
                            f"{diagnosis.namespace}/{diagnosis.config_name}: "
                            f"{diagnosis.primary or 'unset'})")
    return frame


__all__ = ["ai_providers_table"]
