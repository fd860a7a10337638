"""Kubernetes resource quantities as numbers: ``250m`` -> 0.25, ``512Mi`` -> 536870912.

One parser for the scheduler, kube-state-metrics and the world file, following
``k8s.io/apimachinery/pkg/api/resource``: a decimal number (optionally with an exponent
``1e3``) and a suffix — binary ``Ki Mi Gi Ti Pi Ei``, decimal ``n u m k M G T P E`` or none.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))([eE][+-]?\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$"
)


def parse_quantity(value: str | int | float) -> float:
    """The number a quantity stands for (cores for CPU, bytes for memory and storage).

    Raises:
        ValueError: ``value`` is not a Kubernetes quantity (``"1.5 Gi"``, ``"1e3Mi"``, ``""``).
    """
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    match = _QUANTITY.match(value.strip()) if isinstance(value, str) else None
    if match is None or (match.group(2) and match.group(3)):
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    number, exponent, suffix = match.group(1), match.group(2) or "", match.group(3) or ""
    try:
        return float(Decimal(number + exponent) * _SUFFIX[suffix])
    except InvalidOperation:
        raise ValueError(f"not a Kubernetes quantity: {value!r}") from None


__all__ = ["parse_quantity"]
