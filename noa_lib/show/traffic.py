"""Traffic rendered for the DDoS runbook: endpoints against their baseline, the top talkers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from noa_lib.ops.ddos import DdosDiagnosis

if TYPE_CHECKING:
    import pandas as pd


def endpoint_traffic_table(diagnosis: DdosDiagnosis) -> pd.DataFrame:
    """Requests per second by service (``(all)``) and endpoint, now and ``baseline`` ago, with
    the ratio (empty where the baseline has no such series)."""
    import pandas as pd

    rows = [{"service": e.service, "endpoint": e.endpoint, "req/s": e.rps,
             f"{diagnosis.baseline} ago": e.baseline_rps, "ratio": e.ratio}
            for e in diagnosis.endpoints]
    frame = pd.DataFrame(rows, columns=["service", "endpoint", "req/s",
                                        f"{diagnosis.baseline} ago", "ratio"])
    frame.attrs["title"] = f"traffic over {diagnosis.window} vs {diagnosis.baseline} ago"
    return frame


def talkers_table(diagnosis: DdosDiagnosis) -> pd.DataFrame:
    """The ``top`` API keys by their share of the api's request lines: organization, lines,
    share, estimated requests per second, lines answered 429, and whether it floods."""
    import pandas as pd

    flood = {t.api_key_id for t in diagnosis.flooders}
    rows = [{"api_key_id": t.api_key_id, "org_id": t.org_id, "lines": t.lines,
             "share %": round(t.share * 100, 2), "req/s": t.rps, "429 lines": t.rejected,
             "flooding": "yes" if t.api_key_id in flood else ""}
            for t in diagnosis.top_talkers]
    frame = pd.DataFrame(rows, columns=["api_key_id", "org_id", "lines", "share %", "req/s",
                                        "429 lines", "flooding"])
    frame.attrs["title"] = (f"top {diagnosis.top} API keys of {len(diagnosis.talkers)} in the "
                            f"api logs over {diagnosis.window}")
    return frame


__all__ = ["endpoint_traffic_table", "talkers_table"]
