"""Label and field selectors, parsed and matched like the real API server does.

Label selector strings (``?labelSelector=``): ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``,
``a notin (x)``, ``a`` (exists), ``!a`` (does not exist), ``a>1``/``a<1``; a comma means AND.
Malformed ones raise 400 BadRequest. Field selectors (``?fieldSelector=``): ``=``, ``==``, ``!=``
on the fields the real server supports for the kind (``metadata.name``, ``metadata.namespace``,
pods ``status.phase``/``spec.nodeName``..., events ``involvedObject.*``...); others raise 400
``field label not supported: x``.

:func:`matches_label_selector` evaluates a ``LabelSelector`` object (``matchLabels`` +
``matchExpressions``) as controllers do (Deployment/ReplicaSet selection);
:func:`selector_string` renders one in the string form (``Scale.status.selector``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from noa_sandbox.kube.errors import bad_request

Obj = dict[str, Any]

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/"
_KEY_RE = re.compile(rf"^({_PREFIX})?{_NAME}$")
_VALUE_RE = re.compile(rf"^({_NAME})?$")
_SET_RE = re.compile(r"^\s*(\S+?)\s+(in|notin)\s*\((.*)\)\s*$")
_OP_RE = re.compile(r"^\s*([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Requirement:
    """One clause: ``key`` ``op`` ``values`` (op: in, notin, exists, !, =, !=, gt, lt)."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op in ("gt", "lt"):
            if not present or value is None:
                return False
            try:
                number = int(value)
            except ValueError:
                return False
            bound = int(self.values[0])
            return number > bound if self.op == "gt" else number < bound
        return False


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        actual = labels or {}
        return all(req.matches(actual) for req in self.requirements)


def _split_top(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _check_key(key: str, selector: str) -> str:
    if not _KEY_RE.match(key) or len(key) > 317:
        raise bad_request(
            f"unable to parse requirement: invalid label key {key!r}: name part must consist of "
            "alphanumeric characters, '-', '_' or '.', and must start and end with an "
            f"alphanumeric character (selector {selector!r})"
        )
    return key


def _check_value(value: str, selector: str) -> str:
    if not _VALUE_RE.match(value):
        raise bad_request(
            f"unable to parse requirement: invalid label value: {value!r}: a valid label must be "
            "an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
            f"start and end with an alphanumeric character (selector {selector!r})"
        )
    return value


def parse_label_selector(selector: str | None) -> LabelSelector:
    """Parse a ``labelSelector`` query string; 400 BadRequest when malformed."""
    if selector is None or not selector.strip():
        return LabelSelector()
    requirements: list[Requirement] = []
    for raw in _split_top(selector):
        term = raw.strip()
        if not term:
            raise bad_request(f"found '', expected: identifier (selector {selector!r})")
        set_match = _SET_RE.match(term)
        if set_match:
            key, op, inner = set_match.groups()
            values = tuple(v.strip() for v in inner.split(",")) if inner.strip() else ()
            if not values:
                raise bad_request(
                    f"for 'in', 'notin' operators, values set can't be empty (selector "
                    f"{selector!r})"
                )
            requirements.append(
                Requirement(
                    _check_key(key, selector), op, tuple(_check_value(v, selector) for v in values)
                )
            )
            continue
        if term.startswith("!"):
            requirements.append(Requirement(_check_key(term[1:].strip(), selector), "!"))
            continue
        op_match = _OP_RE.match(term)
        if op_match:
            key, op, value = op_match.groups()
            if op in (">", "<"):
                if not re.fullmatch(r"-?\d+", value):
                    raise bad_request(
                        f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must "
                        f"be an integer (selector {selector!r})"
                    )
                requirements.append(
                    Requirement(_check_key(key, selector), "gt" if op == ">" else "lt", (value,))
                )
                continue
            norm = "=" if op in ("=", "==") else "!="
            requirements.append(
                Requirement(_check_key(key, selector), norm, (_check_value(value, selector),))
            )
            continue
        if re.search(r"[\s=!()<>]", term):
            raise bad_request(f"unable to parse requirement: {term!r} (selector {selector!r})")
        requirements.append(Requirement(_check_key(term, selector), "exists"))
    return LabelSelector(tuple(requirements))


def matches_label_selector(labels: Mapping[str, str] | None, selector: Obj | None) -> bool:
    """Whether ``labels`` match a LabelSelector object (``matchLabels`` + ``matchExpressions``).

    As in Kubernetes, ``None`` matches nothing and ``{}`` matches everything.
    """
    if selector is None:
        return False
    actual = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if actual.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key = expr.get("key", "")
        values = expr.get("values") or []
        operator = expr.get("operator")
        if operator == "In" and actual.get(key) not in values:
            return False
        if operator == "NotIn" and key in actual and actual[key] in values:
            return False
        if operator == "Exists" and key not in actual:
            return False
        if operator == "DoesNotExist" and key in actual:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def matches_map(labels: Mapping[str, str] | None, selector: Mapping[str, str] | None) -> bool:
    """A Service-style selector (a plain map); an empty or missing one selects nothing."""
    if not selector:
        return False
    actual = labels or {}
    return all(actual.get(k) == v for k, v in selector.items())


def selector_string(selector: Obj | None) -> str:
    """The string form of a LabelSelector object (``app=api,tier in (a,b)``)."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, operator = expr.get("key", ""), expr.get("operator")
        values = ",".join(sorted(expr.get("values") or []))
        if operator == "In":
            parts.append(f"{key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


# ---------------------------------------------------------------------------- field selectors

_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
FIELDS: dict[str, tuple[str, ...]] = {
    "pods": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "events": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "secrets": ("type",),
    "namespaces": ("status.phase",),
    "replicasets": ("status.replicas",),
    "jobs": ("status.successful",),
}


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    negate: bool
    value: str


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector (AND of ``field = value`` / ``field != value``)."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Obj) -> bool:
        for req in self.requirements:
            actual = field_value(obj, req.field)
            if (actual == req.value) == req.negate:
                return False
        return True


def field_value(obj: Obj, path: str) -> str:
    """The string value of a dotted field path (``""`` when absent; ``source`` = component)."""
    if path == "source":
        source = obj.get("source") or {}
        return str(source.get("component") or obj.get("reportingComponent") or "")
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, dict):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def parse_field_selector(selector: str | None, plural: str) -> FieldSelector:
    """Parse a ``fieldSelector``; 400 for unsupported fields or malformed terms."""
    if selector is None or not selector.strip():
        return FieldSelector()
    allowed = _COMMON_FIELDS + FIELDS.get(plural, ())
    requirements: list[FieldRequirement] = []
    for raw in selector.split(","):
        term = raw.strip()
        match = re.fullmatch(r"([^=!]+?)\s*(==|=|!=)\s*(.*)", term)
        if not match:
            raise bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")
        field, op, value = match.groups()
        if field not in allowed:
            raise bad_request(f"field label not supported: {field}")
        requirements.append(FieldRequirement(field, op == "!=", value))
    return FieldSelector(tuple(requirements))


__all__ = [
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "field_value",
    "matches_label_selector",
    "matches_map",
    "parse_field_selector",
    "parse_label_selector",
    "selector_string",
]
