"""Every runbook notebook is clean source that follows the house conventions (docs/ARCHITECTURE.md,
section Notebooks)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from noa_lib.records.catalog import AREAS, Catalog, cell_source

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)
ALLOWED_METADATA = {"kernelspec", "language_info"}
SECRET_NAME = re.compile(r"(password|passwd|secret|token|api_?key|credential)", re.I)
# parameters that NAME a secret (which one to rotate), never hold a value: incident/security_breach
NAMES_A_SECRET = {"credential"}
STEP = re.compile(r"^## Step \d+ — \S")
MAX_LINE = 100  # the ruff line length; longer lines are cut off in the HTML records


def test_there_are_runbooks():
    assert len(NOTEBOOKS) >= 2


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT / "notebooks")))
def nb(request) -> tuple[Path, dict]:
    return request.param, json.loads(request.param.read_text())


def test_outputs_counts_and_papermill_metadata_are_stripped(nb):
    path, data = nb
    assert set(data["metadata"]) <= ALLOWED_METADATA, f"{path}: stray notebook metadata"
    for cell in data["cells"]:
        assert not cell.get("outputs"), f"{path}: committed outputs"
        assert cell.get("execution_count") is None, f"{path}: execution count"
        tags = cell.get("metadata", {}).get("tags", [])
        assert "injected-parameters" not in tags and "papermill" not in cell.get("metadata", {})
        assert set(cell.get("metadata", {})) <= {"tags"}, f"{path}: stray cell metadata"


def test_lives_in_a_known_area(nb):
    path, _ = nb
    assert path.parent.name in AREAS


def test_first_cell_is_h1_with_purpose_risk_duration_and_rollback(nb):
    path, data = nb
    first = data["cells"][0]
    text = cell_source(first)
    assert first["cell_type"] == "markdown" and text.startswith("# "), path
    for label in ("**Risk:**", "**Expected duration:**", "**Rollback:**"):
        assert label in text, f"{path}: first cell lacks {label}"
    book = Catalog(ROOT / "notebooks").get(f"{path.parent.name}/{path.stem}")
    assert book.risk in ("read-only", "mutating") and book.purpose


def test_exactly_one_annotated_commented_parameters_cell(nb):
    path, data = nb
    cells = [c for c in data["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{path}: {len(cells)} parameters cells"
    book = Catalog(ROOT / "notebooks").get(f"{path.parent.name}/{path.stem}")
    params = book.parameters  # parses `name: type = default  # help` strictly
    for line in cell_source(cells[0]).splitlines():
        assert "#" in line and line.split("#", 1)[1].strip(), f"{path}: uncommented {line!r}"
    names = {p.name for p in params}
    assert "target" in names, f"{path}: every runbook takes a target"
    assert not [n for n in names - NAMES_A_SECRET if SECRET_NAME.search(n)], (
        f"{path}: secrets are not parameters")
    if book.risk == "mutating":
        dry = {p.name: p for p in params}.get("dry_run")
        assert dry is not None and dry.default is True, f"{path}: mutating needs dry_run=True"


def test_imports_only_noa_lib_and_code_cells_stay_small(nb):
    path, data = nb
    for cell in data["cells"]:
        if cell["cell_type"] != "code":
            continue
        tree = ast.parse(cell_source(cell))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert all(a.name == "noa_lib" or a.name.startswith("noa_lib.")
                           for a in node.names), f"{path}: imports {ast.unparse(node)}"
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").startswith("noa_lib"), f"{path}: {ast.unparse(node)}"
            assert not isinstance(node, ast.FunctionDef | ast.ClassDef | ast.For | ast.While
                                  | ast.Try), f"{path}: logic belongs in noa_lib, not in cells"


def test_no_source_line_is_longer_than_the_line_length(nb):
    path, data = nb
    long = [(i, len(line)) for i, cell in enumerate(data["cells"])
            for line in cell_source(cell).splitlines() if len(line) > MAX_LINE]
    assert not long, f"{path}: (cell, length) of lines over {MAX_LINE} characters: {long}"


def test_steps_are_numbered_headings(nb):
    path, data = nb
    steps = [cell_source(c) for c in data["cells"]
             if c["cell_type"] == "markdown" and cell_source(c).startswith("## ")]
    assert steps, f"{path}: no steps"
    for text in steps:
        assert STEP.match(text.splitlines()[0]), f"{path}: step heading {text.splitlines()[0]!r}"


def test_last_cell_records_the_outcome(nb):
    path, data = nb
    last = data["cells"][-1]
    assert last["cell_type"] == "code" and "record_outcome(" in cell_source(last), path
