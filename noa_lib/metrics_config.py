"""A target's ``[targets.<name>.metrics]`` section: how its Prometheus names NOA's series.

The PromQL catalogue (:mod:`noa_lib.ops.promql`) speaks the names real exporters publish and NOA
Server's own. A team whose Prometheus differs says so here (or in a file this section names, with
the same keys; what is written inline wins)::

    [targets.prod.metrics]
    file = "metrics-prod.toml"                 # optional, relative to the file naming it
    names = { noa_http_requests_total = "http_requests_total" }   # every entry
    labels = { status = "code", namespace = "kubernetes_namespace" }
    matchers.postgres_exporter = { job = "postgres" }             # replaces that source's
    entries.latency_p95 = { names = { noa_http_request_duration_seconds_bucket = "x_bucket" } }
    entries.scrape_up = { promql = 'max by ($by) (up{$noa, job="api"})' }

``names`` renames metrics, ``labels`` renames label names, ``matchers`` replaces the label
matchers every query of a source carries (sources: see :data:`noa_lib.ops.promql.SOURCES`), and
``entries`` does any of it for one catalogue entry only (``promql`` replaces the entry's template).
This module parses and checks the syntax; which entry and source names exist is checked where the
catalogue is bound to the target (:func:`noa_lib.ops.promql.naming_for`), before any query runs.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from noa_lib.errors import ConfigError

METRIC_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_KEYS = frozenset({"file", "names", "labels", "matchers", "entries"})
_ENTRY_KEYS = frozenset({"names", "labels", "promql"})


def _frozen(values: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True)
class EntryNaming:
    """Overrides for one catalogue entry."""

    names: Mapping[str, str] = field(default_factory=_frozen)
    labels: Mapping[str, str] = field(default_factory=_frozen)
    promql: str | None = None


@dataclass(frozen=True)
class MetricsSettings:
    """The parsed ``metrics`` section (empty: the catalogue's own names everywhere)."""

    names: Mapping[str, str] = field(default_factory=_frozen)
    labels: Mapping[str, str] = field(default_factory=_frozen)
    matchers: Mapping[str, Mapping[str, str]] = field(default_factory=_frozen)
    entries: Mapping[str, EntryNaming] = field(default_factory=_frozen)
    file: Path | None = None

    @property
    def empty(self) -> bool:
        return not (self.names or self.labels or self.matchers or self.entries)


def parse_metrics(body: Any, where: str, base: Path) -> MetricsSettings:
    """The ``metrics`` table at ``where`` (file paths relative to ``base``).

    Raises:
        ConfigError: unknown keys, names that are not metric or label names, a file that cannot
            be read — each naming the key and what is accepted.
    """
    table = _table(body, where)
    from_file = MetricsSettings()
    path: Path | None = None
    if table.get("file") not in (None, ""):
        path = (base / str(table["file"])).expanduser().resolve()
        try:
            with path.open("rb") as fh:
                raw = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"{where}.file: cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where}.file: {path} is not valid TOML: {exc}") from None
        if "file" in raw:
            raise ConfigError(f"{path}: a metrics file cannot name another file")
        from_file = parse_metrics(raw, str(path), path.parent)
    inline = _parse_table(table, where)
    entries = dict(from_file.entries)
    for name, entry in inline.entries.items():
        old = entries.get(name, EntryNaming())
        entries[name] = EntryNaming(
            names=_frozen({**old.names, **entry.names}),
            labels=_frozen({**old.labels, **entry.labels}),
            promql=entry.promql if entry.promql is not None else old.promql,
        )
    return MetricsSettings(
        names=_frozen({**from_file.names, **inline.names}),
        labels=_frozen({**from_file.labels, **inline.labels}),
        matchers=_frozen({**from_file.matchers, **inline.matchers}),
        entries=_frozen(entries),
        file=path,
    )


def _parse_table(table: Mapping[str, Any], where: str) -> MetricsSettings:
    unknown = set(table) - _KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; accepted: {sorted(_KEYS)}")
    matchers = {}
    for source, body in _table(table.get("matchers", {}), f"{where}.matchers").items():
        matchers[str(source)] = _frozen(_pairs(body, f"{where}.matchers.{source}", LABEL_RE,
                                               None))
    entries = {}
    for name, body in _table(table.get("entries", {}), f"{where}.entries").items():
        at = f"{where}.entries.{name}"
        entry = _table(body, at)
        bad = set(entry) - _ENTRY_KEYS
        if bad:
            raise ConfigError(f"{at}: unknown keys {sorted(bad)}; accepted: {sorted(_ENTRY_KEYS)}")
        promql = entry.get("promql")
        if promql is not None and (not isinstance(promql, str) or not promql.strip()):
            raise ConfigError(f"{at}.promql must be a non-empty PromQL template string")
        entries[str(name)] = EntryNaming(
            names=_frozen(_pairs(entry.get("names", {}), f"{at}.names", METRIC_RE, METRIC_RE)),
            labels=_frozen(_pairs(entry.get("labels", {}), f"{at}.labels", LABEL_RE, LABEL_RE)),
            promql=promql,
        )
    return MetricsSettings(
        names=_frozen(_pairs(table.get("names", {}), f"{where}.names", METRIC_RE, METRIC_RE)),
        labels=_frozen(_pairs(table.get("labels", {}), f"{where}.labels", LABEL_RE, LABEL_RE)),
        matchers=_frozen(matchers),
        entries=_frozen(entries),
    )


def _table(body: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ConfigError(f"{where} must be a table")
    return body


def _pairs(body: Any, where: str, key_re: re.Pattern[str],
           value_re: re.Pattern[str] | None) -> dict[str, str]:
    out = {}
    for key, value in _table(body, where).items():
        if not key_re.match(str(key)):
            raise ConfigError(f"{where}: {key!r} is not a valid name ({key_re.pattern})")
        if not isinstance(value, str) or (value_re is not None and not value_re.match(value)):
            what = f"a name matching {value_re.pattern}" if value_re else "a string"
            raise ConfigError(f"{where}.{key} must be {what}, got {value!r}")
        out[str(key)] = value
    return out


__all__ = ["LABEL_RE", "METRIC_RE", "EntryNaming", "MetricsSettings", "parse_metrics"]
