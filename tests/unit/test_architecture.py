"""The layering of docs/ARCHITECTURE.md holds, the facade is complete, and importing the library
is cheap."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

import noa_lib

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(lint), "--config", str(ROOT / ".importlinter")], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_architecture_page_draws_the_layers_the_contract_enforces():
    page = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    drawn = re.search(r"^cli → .*$", page, re.M)
    assert drawn, "docs/ARCHITECTURE.md draws the layers as `cli → … → errors`"
    contract = configparser.ConfigParser()
    contract.read(ROOT / ".importlinter")
    layers = contract["importlinter:contract:layers"]["layers"].split()
    assert [x.strip() for x in drawn.group(0).split("→")] == layers
    assert "docs/ARCHITECTURE.md" in (ROOT / "README.md").read_text()


def test_every_public_name_resolves():
    for name in noa_lib.__all__:
        assert getattr(noa_lib, name) is not None, name


def test_import_is_light():
    code = ("import sys, noa_lib; heavy = [m for m in ('pandas', 'papermill', 'nbformat', "
            "'psycopg', 'boto3', 'kubernetes', 'IPython') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
