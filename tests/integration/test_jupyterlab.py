"""A record opens in JupyterLab: a real JupyterLab server loads it through its contents API."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from noa_lib.records.runner import RunRequest, run

pytestmark = pytest.mark.notebooks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, token: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
        return resp.status, resp.read()


def test_record_opens_in_jupyterlab(fixture_runbooks: Path, tmp_path: Path):
    result = run(RunRequest("testing/typed"))
    port, token = free_port(), "noa-test-token"
    jupyter = Path(sys.executable).parent / "jupyter"
    proc = subprocess.Popen(
        [str(jupyter), "lab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
         f"--IdentityProvider.token={token}", "--allow-root",
         f"--ServerApp.root_dir={fixture_runbooks}", f"--ServerApp.runtime_dir={tmp_path}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(f"{base}/api/status", token)[0] == 200:
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.5)
        rel = result.record.relative_to(fixture_runbooks).as_posix()
        status, body = get(f"{base}/api/contents/{rel}?content=1&type=notebook", token)
        model = json.loads(body)
        assert status == 200 and model["type"] == "notebook" and model["format"] == "json"
        assert model["content"]["metadata"]["noa"]["run_id"] == result.run_id
        assert get(f"{base}/lab/tree/{rel}", token)[0] == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
