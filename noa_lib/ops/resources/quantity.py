"""Kubernetes quantities for memory and storage: parse (``512Mi`` → bytes) and format back."""

from __future__ import annotations

import math
import re

from noa_lib.errors import ParameterError

_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
MI = 2**20
GI = 2**30


def parse_bytes(value: object, parameter: str) -> float:
    """Bytes of a quantity such as ``4Gi``, ``1536Mi`` or ``2000000000``.

    Raises:
        ParameterError: not a quantity of bytes (names ``parameter``).
    """
    text = str(value).strip() if isinstance(value, str | int) else ""
    match = _QUANTITY.match(text)
    if isinstance(value, bool) or match is None or float(match.group(1)) <= 0:
        accepted = ("a positive number with an optional unit Ki, Mi, Gi, Ti (or k, M, G, T), "
                    "e.g. 4Gi or 1536Mi")
        raise ParameterError(f"{parameter}={value!r} is not a memory/storage quantity; "
                             f"accepted: {accepted}", name=parameter, accepted=accepted)
    return float(match.group(1)) * _UNITS[match.group(2) or ""]


def quantity_bytes(value: object) -> float | None:
    """Bytes of a quantity read from the API (``None`` when absent or not understood)."""
    if value is None:
        return None
    try:
        return parse_bytes(value, "quantity")
    except ParameterError:
        return None


def round_up(value: float, step: float) -> float:
    """``value`` rounded up to a whole number of ``step``."""
    return math.ceil(value / step - 1e-9) * step


def format_bytes(value: float) -> str:
    """The quantity text of a byte count: ``Gi`` when whole, else ``Mi`` (rounded up)."""
    if value % GI == 0:
        return f"{int(value // GI)}Gi"
    return f"{math.ceil(value / MI)}Mi"


def human(value: float | None) -> str:
    """``1.38 GiB`` / ``640 MiB`` for tables and messages (``–`` for ``None``)."""
    if value is None:
        return "–"
    if abs(value) >= GI:
        return f"{value / GI:.2f} GiB"
    return f"{value / MI:.0f} MiB"


__all__ = ["GI", "MI", "format_bytes", "human", "parse_bytes", "quantity_bytes", "round_up"]
