"""Parameters of the deployment runbooks, checked before any call to a backend.

Names are DNS-1123 (:mod:`noa_lib.ops.names`), image tags OCI tags, traffic weights ascending
percentages ending at 100, durations positive. Every failure is a ``ParameterError`` naming the
parameter and what would have been accepted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from noa_lib.clients.images import parse_image
from noa_lib.errors import ParameterError
from noa_lib.ops.names import validate_image_tag, validate_name

WEIGHTS_ACCEPTED = ("comma-separated whole percentages, strictly ascending, each 1..100, "
                    "ending at 100 (e.g. '10,25,50,75,100')")


def parse_weights(text: str | Iterable[int], parameter: str = "steps") -> tuple[int, ...]:
    """``"10,25,50,75,100"`` -> ``(10, 25, 50, 75, 100)``.

    Raises:
        ParameterError: not numbers, not ascending, outside 1..100 or not ending at 100.
    """
    if isinstance(text, str):
        parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    else:
        parts = [str(p) for p in text]
    if not parts:
        raise ParameterError(f"{parameter} is empty; expected {WEIGHTS_ACCEPTED}",
                             name=parameter, accepted=WEIGHTS_ACCEPTED)
    weights: list[int] = []
    for part in parts:
        if not re.fullmatch(r"\d{1,3}", part.rstrip("%")):
            raise ParameterError(f"{parameter}: {part!r} is not a whole percentage; expected "
                                 f"{WEIGHTS_ACCEPTED}", name=parameter, accepted=WEIGHTS_ACCEPTED)
        weights.append(int(part.rstrip("%")))
    if any(not 1 <= w <= 100 for w in weights):
        raise ParameterError(f"{parameter}={weights} has a weight outside 1..100; expected "
                             f"{WEIGHTS_ACCEPTED}", name=parameter, accepted=WEIGHTS_ACCEPTED)
    if any(b <= a for a, b in zip(weights, weights[1:], strict=False)):
        raise ParameterError(f"{parameter}={weights} is not strictly ascending; expected "
                             f"{WEIGHTS_ACCEPTED}", name=parameter, accepted=WEIGHTS_ACCEPTED)
    if weights[-1] != 100:
        raise ParameterError(f"{parameter}={weights} does not end at 100; expected "
                             f"{WEIGHTS_ACCEPTED}", name=parameter, accepted=WEIGHTS_ACCEPTED)
    return tuple(weights)


def positive(value: float, parameter: str, *, allow_zero: bool = False) -> float:
    """``value`` when it is > 0 (or >= 0 with ``allow_zero``); ``ParameterError`` otherwise."""
    ok = value >= 0 if allow_zero else value > 0
    if isinstance(value, bool) or not isinstance(value, int | float) or not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ParameterError(f"{parameter}={value!r} must be a number {bound}", name=parameter,
                             accepted=f"a number {bound}")
    return float(value)


def whole(value: int, parameter: str, *, minimum: int = 0) -> int:
    """``value`` when it is a whole number >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParameterError(f"{parameter}={value!r} must be a whole number >= {minimum}",
                             name=parameter, accepted=f"a whole number >= {minimum}")
    return value


def workload(namespace: str, deployment: str, *, container: str = "") -> tuple[str, str, str]:
    """Validated ``(namespace, deployment, container)``; the container may be empty (= first)."""
    validate_name(namespace, "namespace", "label")
    validate_name(deployment, "deployment", "subdomain")
    if container:
        validate_name(container, "container", "label")
    return namespace, deployment, container


def tag(value: str, parameter: str = "image_tag") -> str:
    """A valid image tag that is not ``latest`` (a deployment must name what it ships)."""
    validate_image_tag(value, parameter)
    if value == "latest":
        raise ParameterError(f"{parameter}='latest' does not say what is shipped; name the "
                             "version", name=parameter, accepted="an explicit version, e.g. 2.15.0")
    return value


def image_with_tag(image: str, new_tag: str) -> str:
    """``registry/repo:old`` -> ``registry/repo:new`` (a registry port or digest is handled)."""
    return parse_image(image).with_tag(new_tag)


def tag_of(image: str) -> str:
    """The tag of ``image`` (``""`` when it has none)."""
    return parse_image(image).tag


__all__ = ["WEIGHTS_ACCEPTED", "image_with_tag", "parse_weights", "positive", "tag", "tag_of",
           "whole", "workload"]
