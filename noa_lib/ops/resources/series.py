"""Catalogue queries over a window as plain points (no pandas): a Prometheus subquery.

``(<rendered query>)[<window>:<step>s]`` evaluated once gives every series' samples; the rules of
this package fit lines and find restarts on them, the show layer charts them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from noa_lib.ops.metrics import Prometheus
from noa_lib.ops.promql import Query


@dataclass(frozen=True)
class Points:
    """One series over the window: its labels (catalogue names) and ``(unix time, value)``."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


def window_points(prom: Prometheus, query: Query, *, window: str, step_s: float,
                  rate_window: str = "1m", by: tuple[str, ...] | None = None,
                  where: Mapping[str, str | None] | None = None) -> tuple[str, tuple[Points, ...]]:
    """``query`` (its own window ``rate_window``) sampled every ``step_s`` over the last
    ``window``.

    Returns:
        ``(the PromQL that ran, the series)``.
    Raises:
        ParameterError / Unavailable / Timeout / NotFound / ClientError: as
        :func:`noa_lib.ops.metrics.read`.
    """
    from noa_lib.clients import prometheus

    rendered = prom.render(query, rate_window, by=by, where=where)
    promql = f"({rendered})[{window}:{max(1, round(step_s))}s]"
    out = []
    for item in prometheus.query(prom.client, promql):
        labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
        points = []
        for t, text in item.get("values") or []:
            try:
                value = float(text)
            except (TypeError, ValueError):
                continue
            if not math.isnan(value):
                points.append((float(t), value))
        out.append(Points(prom.naming.canonical(query.name, labels), tuple(points)))
    return promql, tuple(out)


__all__ = ["Points", "window_points"]
