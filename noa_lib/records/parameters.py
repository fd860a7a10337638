"""A runbook's declared parameters and how values given on the command line are typed.

The ``parameters`` cell of a notebook holds one declaration per line::

    target: str = "sandbox"  # environment from noa.toml
    window: 'Literal["1h", "6h", "24h"]' = "1h"  # how far back to look (quoted: no import needed)
    since: str | None = None  # optional start time
    incident_id: str = ...  # (required) the incident this run belongs to

Values are typed by the declared annotation, never guessed (``-p tag 1.10`` stays ``"1.10"`` for a
``str``), unknown names are rejected, and ``...`` marks a required parameter.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from noa_lib.errors import ParameterError

_SCALARS = ("str", "int", "float", "bool")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


@dataclass(frozen=True)
class ParamType:
    """A declared parameter type: a scalar, optionally a list of it, a choice, maybe optional."""

    base: str  # str | int | float | bool
    is_list: bool = False
    optional: bool = False
    choices: tuple[Any, ...] = ()

    def describe(self) -> str:
        if self.choices:
            text = " | ".join(repr(c) for c in self.choices)
        elif self.is_list:
            text = f"list[{self.base}]"
        else:
            text = self.base
        return f"{text} | None" if self.optional else text

    def accepted(self) -> str:
        """What a value must look like, in words, for error messages."""
        if self.choices:
            text = "one of " + ", ".join(str(c) for c in self.choices)
        elif self.is_list:
            text = f"a comma-separated list of {self.base} values"
        elif self.base == "bool":
            text = "true or false (also yes/no, on/off, 1/0)"
        elif self.base == "int":
            text = "a whole number"
        elif self.base == "float":
            text = "a number"
        else:
            text = "any text"
        return f"{text}, or none" if self.optional else text


@dataclass(frozen=True)
class Parameter:
    """One declaration of a runbook's ``parameters`` cell."""

    name: str
    type: ParamType
    default: Any
    help: str
    required: bool = False

    def coerce(self, value: Any) -> Any:
        """``value`` (text from the CLI or a YAML scalar/list) typed as declared.

        Raises:
            ParameterError: the value does not fit; the message names the parameter and what
                is accepted.
        """
        try:
            return _coerce(self.type, value)
        except (TypeError, ValueError):
            raise ParameterError(
                f"parameter {self.name!r}: {value!r} is not valid; expected {self.type.accepted()}",
                name=self.name,
                accepted=self.type.accepted(),
            ) from None


def _coerce(kind: ParamType, value: Any) -> Any:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
        if kind.optional:
            return None
        if value is None:
            raise ValueError("none")
    if kind.is_list:
        items = value if isinstance(value, list | tuple) else _split_list(str(value))
        return [_scalar(kind.base, item) for item in items]
    result = _scalar(kind.base, value)
    if kind.choices and result not in kind.choices:
        raise ValueError("not a choice")
    return result


def _split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _scalar(base: str, value: Any) -> Any:
    if base == "str":
        if isinstance(value, bool | list | dict):
            raise TypeError("not text")
        return str(value)
    if base == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError("not a bool")
    if isinstance(value, bool):
        raise TypeError("bool is not a number")
    if base == "int":
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        text = str(value).strip().replace("_", "")
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError("not an int")
        return int(text)
    if isinstance(value, int | float):
        return float(value)
    return float(str(value).strip())


def parse_parameters_cell(source: str, *, where: str = "parameters cell") -> list[Parameter]:
    """The declarations of a ``parameters`` cell, in order.

    Raises:
        ParameterError: a line is not ``name: type = literal  # help``.
    """
    params: list[Parameter] = []
    lines = source.splitlines()
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(f"{where}: not valid Python: {exc.msg} (line {exc.lineno})") from None
    for node in tree.body:
        line = lines[node.lineno - 1]
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            raise ParameterError(
                f"{where}, line {node.lineno}: expected `name: type = default  # help`, "
                f"got {line!r}"
            )
        if node.value is None:
            raise ParameterError(f"{where}, line {node.lineno}: {node.target.id} has no default")
        name = node.target.id
        kind = _parse_annotation(node.annotation, f"{where}, line {node.lineno}")
        help_text = line.split("#", 1)[1].strip() if "#" in line else ""
        if isinstance(node.value, ast.Constant) and node.value.value is Ellipsis:
            params.append(Parameter(name, kind, None, help_text, required=True))
            continue
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            raise ParameterError(
                f"{where}, line {node.lineno}: the default of {name} must be a literal"
            ) from None
        params.append(Parameter(name, kind, default, help_text))
    return params


def _parse_annotation(node: ast.expr, where: str) -> ParamType:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        # quoted form, e.g. 'Literal["fast", "safe"]', so the cell runs without importing Literal
        try:
            quoted = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            raise ParameterError(f"{where}: cannot parse type {node.value!r}") from None
        return _parse_annotation(quoted, where)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        parts = [node.left, node.right]
        nones = [p for p in parts if isinstance(p, ast.Constant) and p.value is None]
        rest = [p for p in parts if p not in nones]
        if len(nones) == 1 and len(rest) == 1:
            inner = _parse_annotation(rest[0], where)
            return ParamType(inner.base, inner.is_list, True, inner.choices)
    if isinstance(node, ast.Name) and node.id in _SCALARS:
        return ParamType(node.id)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        if node.value.id == "list" and isinstance(node.slice, ast.Name):
            if node.slice.id in _SCALARS:
                return ParamType(node.slice.id, is_list=True)
        if node.value.id == "Literal":
            elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            choices = tuple(ast.literal_eval(e) for e in elts)
            kinds = {type(c).__name__ for c in choices}
            if len(kinds) == 1 and next(iter(kinds)) in _SCALARS:
                return ParamType(next(iter(kinds)), choices=choices)
    raise ParameterError(
        f"{where}: unsupported type {ast.unparse(node)!r}; use str, int, float, bool, "
        "list[str|int|float], Literal[...] or `<type> | None`"
    )


def bind(
    declared: Sequence[Parameter], given: Mapping[str, Any], *, runbook: str
) -> dict[str, Any]:
    """Type ``given`` values by ``declared`` and check that every required one is present.

    Returns only the parameters that were given (typed); defaults stay in the notebook.

    Raises:
        ParameterError: unknown name (lists the accepted ones), ill-typed value, missing required.
    """
    by_name = {p.name: p for p in declared}
    bound: dict[str, Any] = {}
    for name, value in given.items():
        param = by_name.get(name)
        if param is None:
            accepted = ", ".join(sorted(by_name)) or "(none)"
            raise ParameterError(
                f"{runbook} has no parameter {name!r}; accepted parameters: {accepted}",
                name=name,
                accepted=accepted,
            )
        bound[name] = param.coerce(value)
    missing = [p.name for p in declared if p.required and p.name not in bound]
    if missing:
        raise ParameterError(
            f"{runbook}: missing required parameter(s) {', '.join(missing)} "
            f"(give them with -p NAME VALUE)",
            name=missing[0],
        )
    return bound


__all__ = ["ParamType", "Parameter", "bind", "parse_parameters_cell"]
