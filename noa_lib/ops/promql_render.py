"""How a catalogue entry becomes the PromQL text that runs: templates, selectors, naming.

A :class:`Query` template is PromQL with three kinds of holes:

- ``$window``, ``$by`` and ``$by_le`` (``string.Template``; PromQL never uses ``$`` except in
  ``label_replace`` replacements, written ``$$1``): the range of ``rate``/``…_over_time``, the
  breakdown labels, the same with ``le`` first (for ``histogram_quantile``);
- ``@<source>`` items inside a selector's braces (``container_memory_working_set_bytes{@cadvisor,
  container!=""}``): replaced by that source's label matchers — by default ``namespace="<NOA's
  namespace>"`` for the namespaced sources, nothing for the others, or what the target configures
  — plus the caller's filters (``service="api"``, translated by :attr:`Query.filter_as`, e.g. to
  ``container="api"`` for cAdvisor and kube-state-metrics series);
- ``@database`` inside a selector: ``datname="<the target's database>"``.

Then the target's :class:`Naming` renames metrics and labels (:mod:`.promql_names`), and the
value is scaled to :attr:`Query.unit`. :meth:`Naming.canonical` turns the labels of a result back
into the catalogue's names, so the code reading results never sees a team's names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from string import Template
from types import MappingProxyType

from noa_lib.errors import ParameterError
from noa_lib.ops import promql_names

_DURATION_RE = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
_PART_RE = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SELECTOR_RE = re.compile(r"\{([^{}]*)\}")
_ITEM_RE = re.compile(r"@([a-z_]+)")
_NAMED_SELECTOR_RE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^{}]*)\}")


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration (``5m``, ``1h30m``, ``90d``).

    Raises:
        ParameterError: not a Prometheus duration, or zero.
    """
    cleaned = text.strip()
    if not _DURATION_RE.match(cleaned):
        raise ParameterError(
            f"{text!r} is not a duration; accepted: a number and a unit (ms, s, m, h, d, w, y), "
            "e.g. 5m, 24h, 7d, 1h30m",
            name="window",
            accepted="a Prometheus duration such as 5m, 24h or 7d",
        )
    seconds = sum(int(n) * _SECONDS[unit] for n, unit in _PART_RE.findall(cleaned))
    if seconds <= 0:
        raise ParameterError(f"duration {text!r} must be longer than zero", name="window")
    return float(seconds)


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration text for a whole number of seconds (``300`` → ``5m``)."""
    whole = max(1, round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


@dataclass(frozen=True)
class Source:
    """Where a family of series comes from: the exporter a real cluster runs for it.

    ``namespaced``: its series carry the Kubernetes namespace of the object they describe, so
    by default every query of this source matches ``namespace="<NOA's namespace>"``.
    ``required``: the runbooks cannot do without it (the coverage check fails without it).
    """

    key: str
    exporter: str
    provides: str
    namespaced: bool
    required: bool


def _frozen(values: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True)
class Naming:
    """How one target's Prometheus names things (see :mod:`noa_lib.metrics_config`).

    ``matchers`` is the label matchers each source's selectors carry; ``database`` fills
    ``@database``; ``metrics``/``labels`` rename every entry; ``entries`` holds per-entry
    ``(metrics, labels, promql)`` overrides.
    """

    matchers: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({}))
    database: str = "noa"
    metrics: Mapping[str, str] = field(default_factory=_frozen)
    labels: Mapping[str, str] = field(default_factory=_frozen)
    entries: Mapping[str, tuple[Mapping[str, str], Mapping[str, str], str | None]] = field(
        default_factory=lambda: MappingProxyType({}))

    def renames(self, entry: str) -> tuple[Mapping[str, str], Mapping[str, str]]:
        """The metric and label renames in force for catalogue entry ``entry``."""
        metrics, labels, _ = self.entries.get(entry, ({}, {}, None))
        return {**self.metrics, **metrics}, {**self.labels, **labels}

    def canonical(self, entry: str, labels: Mapping[str, str]) -> dict[str, str]:
        """A result's ``labels`` under the catalogue's names (the inverse of the renames)."""
        _, renames = self.renames(entry)
        inverse = {theirs: ours for ours, theirs in renames.items()}
        return {inverse.get(k, k): v for k, v in labels.items()}


SOURCES: tuple[Source, ...] = (
    Source("noa", "NOA Server", "NOA Server's own metrics: HTTP, DB pool, cache, queues, AI "
           "providers (its pods' /metrics)", namespaced=True, required=True),
    Source("cadvisor", "cAdvisor", "container CPU and memory (the kubelet's /metrics/cadvisor)",
           namespaced=True, required=True),
    Source("kube_state_metrics", "kube-state-metrics", "requests, limits, restarts, Deployments, "
           "HPAs, nodes and PVCs as the Kubernetes API sees them", namespaced=True,
           required=True),
    Source("kubelet", "kubelet", "volume usage of PVCs (the kubelet's /metrics)",
           namespaced=True, required=True),
    Source("node_exporter", "node-exporter", "node CPU, memory and filesystems",
           namespaced=False, required=False),
    Source("postgres_exporter", "postgres_exporter", "PostgreSQL sessions, settings, database "
           "statistics", namespaced=False, required=False),
    Source("redis_exporter", "redis_exporter", "Redis memory, commands and keyspace hits",
           namespaced=False, required=False),
)
"""Every source the catalogue reads, by the ``@key`` its selectors use."""
SOURCE_BY_KEY = {s.key: s for s in SOURCES}
DEFAULT_NAMESPACE = "noa"


def default_matchers(namespace: str = DEFAULT_NAMESPACE) -> dict[str, Mapping[str, str]]:
    """Each source's matchers when a target configures none: the namespace for the namespaced
    sources, nothing for the others."""
    return {s.key: _frozen({"namespace": namespace} if s.namespaced else {}) for s in SOURCES}


DEFAULT_NAMING = Naming(matchers=MappingProxyType(default_matchers()))


@dataclass(frozen=True)
class Query:
    """One named query of the catalogue (see the module docstring for the template).

    ``unit`` is the unit of the *scaled* value, ``scale`` the factor from the raw PromQL value to
    it; ``threshold_metric`` the key in :data:`noa_lib.ops.thresholds.THRESHOLDS` it is judged
    against (``None``: charted only); ``by`` the default breakdown; ``filters`` the labels
    :meth:`render` may match on, ``filter_as`` the series label each is matched as when it is
    not the same (``service`` → ``container`` for infrastructure series).
    """

    name: str
    promql: str
    unit: str
    description: str
    threshold_metric: str | None = None
    scale: float = 1.0
    by: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    filter_as: Mapping[str, str] = field(default_factory=_frozen)

    def template(self, naming: Naming | None = None) -> str:
        """The template in force under ``naming``: the target's override or :attr:`promql`."""
        override = (naming or DEFAULT_NAMING).entries.get(self.name, ({}, {}, None))[2]
        return override if override is not None else self.promql

    def series(self, naming: Naming | None = None) -> tuple[tuple[str, str], ...]:
        """``(metric, source)`` of every selector of the template in force, in order."""
        found: dict[str, str] = {}
        for name, body in _NAMED_SELECTOR_RE.findall(self.template(naming)):
            refs = [m for m in _ITEM_RE.findall(body) if m != "database"]
            if refs:
                found.setdefault(name, refs[0])
        return tuple(found.items())

    @property
    def sources(self) -> tuple[str, ...]:
        """The sources (``@name`` items) this query's selectors read, in order."""
        found = [m.group(1) for sel in _SELECTOR_RE.finditer(self.promql)
                 for m in _ITEM_RE.finditer(sel.group(1))]
        return tuple(dict.fromkeys(s for s in found if s != "database"))

    def render(
        self,
        window: str = "5m",
        *,
        by: tuple[str, ...] | None = None,
        scaled: bool = True,
        where: Mapping[str, str | None] | None = None,
        naming: Naming | None = None,
        template: str | None = None,
        **match: str | None,
    ) -> str:
        """The PromQL text for ``window``, broken down ``by`` (default :attr:`by`), restricted
        to the labels of ``where`` and ``match`` (``None`` values are ignored), in ``naming``'s
        names (default: the catalogue's), scaled to :attr:`unit` unless ``scaled`` is false.
        ``template`` renders another template under this entry's naming (the coverage probes).

        Raises:
            ParameterError: a bad window, a label this query cannot be filtered or grouped by.
        """
        parse_duration(window)
        naming = naming or DEFAULT_NAMING
        labels = self.by if by is None else tuple(by)
        for label in labels:
            if not _LABEL_RE.match(label):
                raise ParameterError(f"{label!r} is not a label name", name="by")
        filters: list[str] = []
        for label, value in sorted({**(where or {}), **match}.items()):
            if value is None:
                continue
            if label not in self.filters:
                accepted = ", ".join(self.filters) or "none"
                raise ParameterError(
                    f"query {self.name} cannot be filtered by {label!r}; accepted: {accepted}",
                    name=label,
                    accepted=accepted,
                )
            filters.append(f"{self.filter_as.get(label, label)}={json.dumps(str(value))}")
        if template is None:
            template = self.template(naming)
        try:
            text = Template(template).substitute(
                window=window, by=", ".join(labels), by_le=", ".join(("le", *labels))
            )
        except (KeyError, ValueError) as exc:
            raise ParameterError(
                f"query {self.name}: its template has an unknown placeholder ({exc}); accepted: "
                "$window, $by, $by_le", name=self.name) from None
        text = _SELECTOR_RE.sub(lambda m: _selector(m.group(1), naming, filters), text)
        text = text.replace(" by () (", " (")
        metrics, renames = naming.renames(self.name)
        text = promql_names.rename(text, metrics, renames)
        if scaled and self.scale != 1.0:
            inverse = 1.0 / self.scale
            if self.scale < 1.0 and inverse == round(inverse):
                return f"({text}) / {round(inverse)}"
            return f"({text}) * {self.scale:g}"
        return text


def _selector(body: str, naming: Naming, filters: list[str]) -> str:
    items: list[str] = []
    for raw in _split_items(body):
        item = raw.strip()
        ref = _ITEM_RE.fullmatch(item)
        if ref is None:
            if item:
                items.append(item)
        elif ref.group(1) == "database":
            items.append(f"datname={json.dumps(naming.database)}")
        else:
            matchers = naming.matchers.get(ref.group(1), {})
            items += [f"{k}={json.dumps(v)}" for k, v in sorted(matchers.items())]
            items += filters
    return "{" + ",".join(items) + "}"


def _split_items(body: str) -> list[str]:
    """A selector's items, split on the commas outside quoted strings."""
    items, current, quote = [], [], ""
    escaped = False
    for ch in body:
        if quote:
            current.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'`":
            quote = ch
            current.append(ch)
        elif ch == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    return items


__all__ = [
    "DEFAULT_NAMESPACE",
    "DEFAULT_NAMING",
    "SOURCES",
    "SOURCE_BY_KEY",
    "default_matchers",
    "Naming",
    "Query",
    "Source",
    "format_duration",
    "parse_duration",
]
