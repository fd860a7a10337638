"""A target rendered for a notebook: which backends it has and where, secrets as references."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING

from noa_lib.config import SecretRef, Target

if TYPE_CHECKING:
    import pandas as pd

_SECTIONS = ("postgres", "s3", "prometheus", "kubernetes", "registry")


def target_table(target: Target) -> pd.DataFrame:
    """One row per setting (backend, setting, value); secrets show only their reference.

    Backends the target does not configure appear once as ``not configured``.
    """
    import pandas as pd

    rows: list[dict[str, str]] = [
        {"backend": "-", "setting": "name", "value": target.name},
        {"backend": "-", "setting": "protected", "value": "yes" if target.protected else "no"},
    ]
    for section_name in _SECTIONS:
        section = getattr(target, section_name)
        if section is None:
            rows.append({"backend": section_name, "setting": "-", "value": "not configured"})
            continue
        for f in fields(section):
            value = getattr(section, f.name)
            if value is None:
                continue
            shown = f"secret via {value.ref}" if isinstance(value, SecretRef) else str(value)
            rows.append({"backend": section_name, "setting": f.name, "value": shown})
    frame = pd.DataFrame(rows, columns=["backend", "setting", "value"])
    frame.attrs["title"] = f"target {target.name}"
    return frame


__all__ = ["target_table"]
