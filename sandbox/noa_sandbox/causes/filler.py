"""A sandbox-owned process that fills a volume's directory: one file grown at a steady rate.

``python -m noa_sandbox.causes.filler DIR --start BYTES --rate BYTES_PER_S --stop BYTES`` creates
``DIR/FILE_NAME`` (sparse: the sandbox's disk is not really used, the volume stats count its
size) at ``--start`` bytes and grows it by ``--rate`` every second up to ``--stop``, then holds.
It ends on SIGTERM (:func:`noa_sandbox.processes.terminate_group`), leaving the file for the
cause's ``remove`` to delete.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from pathlib import Path

FILE_NAME = "upload-batch.part"
"""What the filler writes: an upload batch that never finished (a cleanup candidate)."""


def grow(path: Path, *, start: float, rate: float, stop: float, ends: threading.Event,
         interval: float = 1.0) -> None:
    """Grow ``path`` from ``start`` bytes by ``rate`` per second up to ``stop`` until ``ends``."""
    began = time.monotonic()
    path.touch()
    while not ends.is_set():
        size = int(min(stop, start + rate * (time.monotonic() - began)))
        os.truncate(path, max(0, size))
        ends.wait(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="noa_sandbox.causes.filler")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--start", type=float, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--stop", type=float, required=True)
    args = parser.parse_args(argv)
    ends = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: ends.set())
    args.directory.mkdir(parents=True, exist_ok=True)
    grow(args.directory / FILE_NAME, start=args.start, rate=args.rate, stop=args.stop, ends=ends)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
