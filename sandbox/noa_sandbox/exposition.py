"""Metric families built sample by sample, for the stand-ins of real exporters.

kube-state-metrics, cAdvisor, the kubelet and node-exporter each emit many families whose samples
carry label sets of their own (``kube_*_labels`` differ per object); :class:`Families` collects
them in the order first used, as ``prometheus_client`` families ready to expose.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.core import Metric


class Families:
    """Metric families by name, created on first use (gauges unless declared counters)."""

    def __init__(self) -> None:
        self._by_name: dict[str, Metric] = {}

    def add(self, name: str, help_text: str, labels: Mapping[str, str], value: float, *,
            counter: bool = False) -> None:
        """One sample of family ``name`` (a counter's ``name`` ends in ``_total``)."""
        base = name.removesuffix("_total") if counter else name
        family = self._by_name.get(base)
        if family is None:
            family = Metric(base, help_text, "counter" if counter else "gauge")
            self._by_name[base] = family
        family.add_sample(name, dict(labels), float(value))

    def collected(self) -> list[Metric]:
        """Every family, in the order first used."""
        return list(self._by_name.values())


__all__ = ["Families"]
