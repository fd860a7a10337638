"""The runbook catalogue: every notebook under ``notebooks/<area>/<runbook>.ipynb``.

Notebooks are read as plain JSON (``nbformat`` costs seconds to import) and described by their first
cell (H1 title, purpose, ``**Risk:**`` line) and their ``parameters`` cell.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from noa_lib.config import find_config_file
from noa_lib.errors import ConfigError, ParameterError
from noa_lib.records.parameters import Parameter, parse_parameters_cell

AREAS = ("deployment", "incident", "scaling", "backup", "monitoring")
_RISK_RE = re.compile(r"\*\*Risk:\*\*\s*([A-Za-z-]+)", re.IGNORECASE)


def notebooks_dir() -> Path:
    """Where the runbooks are: ``NOA_NOTEBOOKS_DIR``; else the first existing ``notebooks/``
    beside ``noa.toml`` (``NOA_CONFIG``'s, then the nearest one above the working directory),
    else beside the installed package (a source checkout)."""
    explicit = os.environ.get("NOA_NOTEBOOKS_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    candidates: list[Path] = []
    config = find_config_file()
    if config is not None:
        candidates.append(config.parent / "notebooks")
    here = Path.cwd().resolve()
    candidates += [d / "notebooks" for d in (here, *here.parents) if (d / "noa.toml").is_file()]
    candidates.append(Path(__file__).resolve().parents[2] / "notebooks")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def cell_source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


@dataclass(frozen=True)
class Runbook:
    """One runbook notebook."""

    id: str  # "<area>/<name>"
    path: Path

    @property
    def area(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.id.split("/", 1)[1]

    @cached_property
    def notebook(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"runbook {self.id}: cannot read {self.path}: {exc}") from None
        return data

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    @cached_property
    def _intro(self) -> list[str]:
        cells = self.notebook.get("cells", [])
        if not cells or cells[0].get("cell_type") != "markdown":
            return []
        return [line.strip() for line in cell_source(cells[0]).splitlines()]

    @property
    def title(self) -> str:
        for line in self._intro:
            if line.startswith("# "):
                return line[2:].strip()
        return self.name.replace("_", " ")

    @property
    def purpose(self) -> str:
        """The first prose line after the title: what the runbook is for."""
        for line in self._intro:
            if line and not line.startswith(("#", "**", "-", "|", ">")):
                return line
        return ""

    @property
    def risk(self) -> str:
        """``read-only`` or ``mutating`` as stated by the ``**Risk:**`` line."""
        for line in self._intro:
            match = _RISK_RE.search(line)
            if match:
                return match.group(1).lower()
        return "unknown"

    @cached_property
    def parameters(self) -> list[Parameter]:
        """The declarations of the single ``parameters`` cell.

        Raises:
            ConfigError: there is not exactly one ``parameters`` cell.
            ParameterError: a declaration is malformed.
        """
        cells = [
            c
            for c in self.notebook.get("cells", [])
            if c.get("cell_type") == "code"
            and "parameters" in c.get("metadata", {}).get("tags", [])
        ]
        if len(cells) != 1:
            raise ConfigError(
                f"runbook {self.id} must have exactly one cell tagged 'parameters' "
                f"(found {len(cells)})"
            )
        return parse_parameters_cell(cell_source(cells[0]), where=f"{self.id} parameters cell")


class Catalog:
    """Every runbook under a notebooks directory."""

    def __init__(self, root: Path | None = None):
        self.root = root or notebooks_dir()

    def runbooks(self) -> list[Runbook]:
        if not self.root.is_dir():
            raise ConfigError(f"notebooks directory {self.root} does not exist")
        found = []
        for path in sorted(self.root.glob("*/*.ipynb")):
            if ".ipynb_checkpoints" in path.parts:
                continue
            found.append(Runbook(f"{path.parent.name}/{path.stem}", path))
        return found

    def get(self, name: str) -> Runbook:
        """The runbook ``area/name`` (or a unique bare ``name``).

        Raises:
            ParameterError: no such runbook; the message lists close matches.
        """
        wanted = name.removesuffix(".ipynb").strip("/")
        if wanted.startswith("notebooks/"):
            wanted = wanted[len("notebooks/") :]
        books = self.runbooks()
        by_id = {b.id: b for b in books}
        if wanted in by_id:
            return by_id[wanted]
        bare = [b for b in books if b.name == wanted]
        if len(bare) == 1:
            return bare[0]
        ids = sorted(by_id)
        close = difflib.get_close_matches(wanted, ids, n=5, cutoff=0.4)
        close += [i for i in ids if wanted and wanted in i and i not in close]
        hint = f"; did you mean: {', '.join(close[:5])}" if close else ""
        raise ParameterError(
            f"unknown runbook {name!r}{hint} (see `noa list` for all {len(ids)} runbooks)",
            name="runbook",
            accepted=", ".join(ids),
        )


__all__ = ["AREAS", "Catalog", "Runbook", "cell_source", "notebooks_dir"]
