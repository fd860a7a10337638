"""Targets: the environments a runbook can act on (sandbox, staging, prod…).

Configuration comes from ``noa.toml`` (found through ``NOA_CONFIG`` or by walking up from the
working directory) plus ``NOA_*`` environment overrides:

``NOA_CONFIG``
    path of the configuration file.
``NOA_TARGET``
    the default target when a runbook does not name one.
``NOA_REPORTS_DIR``
    root of the records store (default ``reports/`` beside ``noa.toml``).
``NOA_TARGET__<NAME>__<SECTION>__<KEY>``
    overrides one setting, e.g. ``NOA_TARGET__PROD__POSTGRES__HOST=db.internal``;
    ``<SECTION>`` may be empty for top-level keys (``NOA_TARGET__PROD____PROTECTED=true``).

``noa.toml`` may ``include`` further files (relative to itself; missing ones are skipped), which is
how ``noa sandbox up`` publishes the ``sandbox`` target without anyone editing ``noa.toml``.

Secrets are never values in configuration, only *references* resolved when a client is built:
``env:NAME``, ``file:PATH`` (relative to the file that names it) and ``k8s:NAMESPACE/SECRET/KEY``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from noa_lib.errors import ConfigError
from noa_lib.metrics_config import MetricsSettings, parse_metrics
from noa_lib.notifications_config import NotificationSink, parse_notifications

CONFIG_FILENAME = "noa.toml"
TARGET_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_SECRET_SCHEMES = ("env:", "file:", "k8s:")


@dataclass(frozen=True)
class SecretRef:
    """A reference to a secret; the value is read only by :meth:`resolve`.

    ``repr``/``str`` show the reference, never the value.
    """

    ref: str
    base_dir: Path = field(default=Path("."), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.ref.startswith(_SECRET_SCHEMES) or len(self.ref.split(":", 1)[1]) == 0:
            raise ConfigError(
                f"secret reference {self.ref!r} is not valid; "
                "accepted forms: env:NAME, file:PATH, k8s:NAMESPACE/SECRET/KEY"
            )

    @property
    def scheme(self) -> str:
        return self.ref.split(":", 1)[0]

    def resolve(self) -> str:
        """Return the secret value.

        Raises:
            ConfigError: the variable/file does not exist or the scheme cannot be resolved here.
        """
        scheme, rest = self.ref.split(":", 1)
        if scheme == "env":
            value = os.environ.get(rest)
            if value is None:
                raise ConfigError(f"secret reference {self.ref}: environment variable is not set")
            return value
        if scheme == "file":
            path = Path(rest).expanduser()
            if not path.is_absolute():
                path = self.base_dir / path
            try:
                return path.read_text().strip()
            except OSError as exc:
                raise ConfigError(
                    f"secret reference {self.ref}: cannot read file ({exc.strerror})"
                ) from None
        raise ConfigError(
            f"secret reference {self.ref}: k8s: references are resolved in-cluster only; "
            "use env: or file: for this target"
        )

    def __str__(self) -> str:
        return self.ref


@dataclass(frozen=True)
class PostgresSettings:
    """How to reach the target's PostgreSQL (DSN pieces; the password is a reference)."""

    host: str = "127.0.0.1"
    port: int = 5432
    dbname: str = "noa"
    user: str = "postgres"
    password: SecretRef | None = None
    sslmode: str = "prefer"
    connect_timeout: float = 5.0
    statement_timeout_ms: int = 30_000


@dataclass(frozen=True)
class S3Settings:
    """An S3-compatible store holding backups and records."""

    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: SecretRef | None = None
    secret_access_key: SecretRef | None = None
    backup_bucket: str = "noa-backups"
    records_bucket: str = "noa-records"
    timeout: float = 10.0


@dataclass(frozen=True)
class PrometheusSettings:
    """The Prometheus HTTP API of the target (and, optionally, its Alertmanager's API)."""

    url: str = "http://127.0.0.1:9090"
    bearer_token: SecretRef | None = None
    timeout: float = 10.0
    alertmanager_url: str | None = None


@dataclass(frozen=True)
class KubernetesSettings:
    """The Kubernetes API: a kubeconfig context, or an API URL with an optional token."""

    api_url: str | None = None
    context: str | None = None
    kubeconfig: str | None = None
    token: SecretRef | None = None
    namespace: str = "noa"
    verify_ssl: bool = True
    timeout: float = 10.0


@dataclass(frozen=True)
class RegistrySettings:
    """The container registry NOA Server's images come from (OCI distribution API v2)."""

    url: str = "https://registry.noa.example"
    repository: str = "noa-server"
    username: str | None = None
    password: SecretRef | None = None
    timeout: float = 10.0


@dataclass(frozen=True)
class DrillSettings:
    """Where incident drills inject their scenarios: ``injector`` names an installed
    ``noa.scenarios`` entry point (the sandbox's is ``sandbox``); ``state_dir`` is the injector's
    own setting (the sandbox's state directory)."""

    injector: str | None = None
    state_dir: str | None = None


@dataclass(frozen=True)
class Target:
    """One environment runbooks can act on. ``None`` sections are not configured."""

    name: str
    description: str = ""
    protected: bool = False
    postgres: PostgresSettings | None = None
    s3: S3Settings | None = None
    prometheus: PrometheusSettings | None = None
    kubernetes: KubernetesSettings | None = None
    registry: RegistrySettings | None = None
    drills: DrillSettings | None = None
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    """How this target's Prometheus names NOA's series (``[targets.<name>.metrics]``)."""
    notifications: Mapping[str, NotificationSink] = field(default_factory=dict)
    """Where incident updates go (``[targets.<name>.notifications.<sink>]``)."""

    def secret_refs(self) -> list[SecretRef]:
        """Every secret reference this target names (for clients and for redaction)."""
        refs: list[SecretRef] = []
        for section in (self.postgres, self.s3, self.prometheus, self.kubernetes, self.registry):
            if section is None:
                continue
            for f in fields(section):
                value = getattr(section, f.name)
                if isinstance(value, SecretRef):
                    refs.append(value)
        for sink in self.notifications.values():
            refs.extend(r for r in sink.secret_refs() if isinstance(r, SecretRef))
        return refs

    def secret_values(self) -> list[str]:
        """Values of every secret that resolves now; unresolvable ones are skipped."""
        values: list[str] = []
        for ref in self.secret_refs():
            try:
                values.append(ref.resolve())
            except ConfigError:
                continue
        return values


@dataclass(frozen=True)
class Config:
    """All targets plus where records go."""

    targets: Mapping[str, Target]
    default_target: str
    reports_dir: Path
    source: Path | None = None

    def target(self, name: str | None = None) -> Target:
        """The named target (or the default one).

        Raises:
            ConfigError: no such target; the message lists the configured ones.
        """
        wanted = name or self.default_target
        try:
            return self.targets[wanted]
        except KeyError:
            known = ", ".join(sorted(self.targets)) or "(none configured)"
            hint = ""
            if wanted == "sandbox":
                hint = " (start it with `noa sandbox up`)"
            raise ConfigError(
                f"unknown target {wanted!r}{hint}; configured targets: {known}"
            ) from None


_SECTIONS: dict[str, type[Any]] = {
    "postgres": PostgresSettings,
    "s3": S3Settings,
    "prometheus": PrometheusSettings,
    "kubernetes": KubernetesSettings,
    "registry": RegistrySettings,
    "drills": DrillSettings,
}


def find_config_file(start: Path | None = None) -> Path | None:
    """``NOA_CONFIG`` if set, else the nearest ``noa.toml`` at or above ``start`` (default cwd)."""
    explicit = os.environ.get("NOA_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"NOA_CONFIG points to {path}, which is not a file")
        return path.resolve()
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / CONFIG_FILENAME
        if candidate.is_file():
            return candidate
    return None


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load targets from ``path`` (default: :func:`find_config_file`) and the environment.

    Raises:
        ConfigError: malformed TOML, unknown keys, invalid values or secrets given as plain text.
    """
    environ = os.environ if env is None else env
    source = path if path is not None else find_config_file()
    raw: dict[str, Any] = {}
    base = Path.cwd()
    raw_targets: dict[str, tuple[dict[str, Any], Path]] = {}
    if source is not None:
        base = source.parent
        raw = _read_toml(source)
        for name, body in raw.get("targets", {}).items():
            raw_targets[name] = (body, base)
        for include in raw.get("include", []):
            inc_path = (base / os.path.expandvars(str(include))).resolve()
            if not inc_path.is_file():
                continue
            for name, body in _read_toml(inc_path).get("targets", {}).items():
                raw_targets[name] = (body, inc_path.parent)
    unknown_top = set(raw) - {"default_target", "reports_dir", "include", "targets"}
    if unknown_top:
        raise ConfigError(f"{source}: unknown top-level keys {sorted(unknown_top)}")

    for name, section, key, value in _env_overrides(environ):
        body, body_base = raw_targets.setdefault(name, ({}, base))
        if section:
            body.setdefault(section, {})[key] = value
        else:
            body[key] = value

    targets = {name: _build_target(name, body, b) for name, (body, b) in raw_targets.items()}
    default = environ.get("NOA_TARGET") or str(raw.get("default_target", "sandbox"))
    reports = environ.get("NOA_REPORTS_DIR") or str(raw.get("reports_dir", "reports"))
    reports_dir = Path(reports).expanduser()
    if not reports_dir.is_absolute():
        reports_dir = (base / reports_dir).resolve()
    return Config(targets=targets, default_target=default, reports_dir=reports_dir, source=source)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _env_overrides(environ: Mapping[str, str]) -> Iterator[tuple[str, str, str, str]]:
    prefix = "NOA_TARGET__"
    for key, value in environ.items():
        if not key.startswith(prefix):
            continue
        parts = key[len(prefix) :].split("__")
        if len(parts) != 3 or not parts[0] or not parts[2]:
            raise ConfigError(
                f"environment override {key} must look like NOA_TARGET__<NAME>__<SECTION>__<KEY>"
            )
        name, section, setting = parts
        yield name.lower().replace("_", "-"), section.lower(), setting.lower(), value


def _build_target(name: str, body: Mapping[str, Any], base: Path) -> Target:
    if not TARGET_NAME_RE.match(name):
        raise ConfigError(
            f"target name {name!r} is not valid (lowercase letters, digits and '-', max 63)"
        )
    allowed = {"description", "protected", "metrics", "notifications", *_SECTIONS}
    unknown = set(body) - allowed
    if unknown:
        raise ConfigError(
            f"target {name!r}: unknown keys {sorted(unknown)}; accepted: {sorted(allowed)}"
        )
    sections: dict[str, Any] = {}
    for section_name, cls in _SECTIONS.items():
        if section_name in body:
            sections[section_name] = _build_section(
                name, section_name, cls, body[section_name], base
            )
    if "metrics" in body:
        sections["metrics"] = parse_metrics(body["metrics"], f"targets.{name}.metrics", base)
    if "notifications" in body:
        sections["notifications"] = parse_notifications(
            body["notifications"], f"targets.{name}.notifications", base, SecretRef
        )
    return Target(
        name=name,
        description=str(body.get("description", "")),
        protected=_as_bool(body.get("protected", False), f"targets.{name}.protected"),
        **sections,
    )


def _build_section(target: str, section: str, cls: type[Any], body: Any, base: Path) -> Any:
    where = f"targets.{target}.{section}"
    if not isinstance(body, Mapping):
        raise ConfigError(f"{where} must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = set(body) - set(known)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; accepted: {sorted(known)}")
    default = cls()
    values: dict[str, Any] = {}
    for key, raw in body.items():
        current = getattr(default, key)
        annotation = str(known[key].type)
        if "SecretRef" in annotation:
            if not isinstance(raw, str) or not raw.startswith(_SECRET_SCHEMES):
                raise ConfigError(
                    f"{where}.{key} is a secret and must be a reference "
                    "(env:NAME, file:PATH or k8s:NAMESPACE/SECRET/KEY), not a literal value"
                )
            values[key] = SecretRef(raw, base)
        elif isinstance(current, bool):
            values[key] = _as_bool(raw, f"{where}.{key}")
        elif isinstance(current, int):
            values[key] = _as_number(raw, int, f"{where}.{key}")
        elif isinstance(current, float):
            values[key] = _as_number(raw, float, f"{where}.{key}")
        else:
            values[key] = None if raw in ("", None) else str(raw)
    return replace(default, **values)


def _as_bool(raw: Any, where: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"{where} must be a boolean (true/false), got {raw!r}")


def _as_number(raw: Any, kind: type[int] | type[float], where: str) -> Any:
    try:
        return kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be {kind.__name__}, got {raw!r}") from None
