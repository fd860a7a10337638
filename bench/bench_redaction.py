"""Benchmark the redactor against the regex-only one it replaced, on generated record text.

Run from the repository root::

    python -m bench.bench_redaction [--mb 8]

It generates ``--mb`` MB of what records hold (JSON pod-log lines, pg_stat_activity query texts,
ConfigMap YAML, PromQL, checksums and ids; one line in ~200 carries a token of a random format),
then times, in the same run and on the same text:

1. the old redactor (five regexes: URL passwords, ``password=``, AWS key ids, bearer/basic,
   PEM blocks) — the baseline;
2. :class:`noa_lib.records.redaction.Redactor` with ten known secret values, on the text as one
   string (an output stream, the HTML), as a record's many short strings (``Redactor.data`` on a
   notebook-like structure of the lines, as the runner calls it) and line by line (the worst
   case: one call per short string);

and prints MB/s of each and the ratio to the baseline (best of ``--repeat`` runs). It exits 1
when a planted token survives the new redactor or when it is slower than ``--min-mbps``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import sys
import time
from collections.abc import Callable

from noa_lib.records.redaction import MASK, Redactor

_OLD_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:)([^\s@/]+)(@)"), rf"\1{MASK}\3"),
    (
        re.compile(
            r"(?i)(\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|"
            r"secret[_-]?access[_-]?key|aws_secret_access_key|pgpassword)\b"
            r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&}]+)"
        ),
        rf"\1{MASK}",
    ),
    (re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[0-9A-Z]{16}\b"), MASK),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]{8,}=*"), rf"\1 {MASK}"),
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        MASK,
    ),
)


def old_redact(text: str) -> str:
    """The regex-only redaction as it was before detect-secrets."""
    for pattern, replacement in _OLD_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _rand(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def tokens(rng: random.Random) -> list[str]:
    """One token of each format the redactor must catch, fresh from ``rng``."""
    hexd = "0123456789abcdef"
    return [
        f"sk-proj-{_rand(rng, 48)}",
        f"sk-ant-api03-{_rand(rng, 90)}",
        f"xoxb-{rng.randrange(10**11, 10**12)}-{rng.randrange(10**11, 10**12)}-{_rand(rng, 24)}",
        f"ghp_{_rand(rng, 36)}",
        f"github_pat_{_rand(rng, 22)}_{_rand(rng, 59)}",
        f"glpat-{_rand(rng, 20)}",
        f"AKIA{_rand(rng, 16, string.ascii_uppercase + string.digits)}",
        f"sk_live_{_rand(rng, 24)}",
        f"SG.{_rand(rng, 22)}.{_rand(rng, 43)}",
        f"npm_{_rand(rng, 36)}",
        f"AC{_rand(rng, 32, hexd)}",
    ]


def generate(mb: float, seed: int = 7) -> tuple[str, list[str]]:
    """``mb`` MB of record-like text and the tokens planted in it."""
    rng = random.Random(seed)
    hexd = "0123456789abcdef"
    lines: list[str] = []
    planted: list[str] = []
    size = 0
    while size < mb * 1_000_000:
        kind = rng.random()
        if kind < 0.6:
            line = json.dumps({
                "ts": f"2026-11-27T01:{rng.randrange(60):02d}:{rng.randrange(60):02d}.123Z",
                "level": rng.choice(["info", "info", "warning", "error"]),
                "logger": "noa.api", "msg": f"GET /api/v1/chat {rng.randrange(200, 504)}",
                "duration_ms": rng.randrange(900), "request_id": _rand(rng, 32, hexd),
            })
        elif kind < 0.75:
            line = (f"SELECT id, payload FROM conversations WHERE tenant_id = {rng.randrange(999)}"
                    f" AND created_at > now() - interval '1 hour' /* app=noa-api */")
        elif kind < 0.85:
            line = (f'image: registry.noa.example/noa-server@sha256:{_rand(rng, 64, hexd)} '
                    f'containerID: containerd://{_rand(rng, 64, hexd)} resourceVersion: '
                    f'"{rng.randrange(10**6)}" lsn 16/{_rand(rng, 8, "0123456789ABCDEF")}')
        else:
            line = ('sum(rate(noa_http_requests_total{service="noa-api",status=~"5.."}[5m])) / '
                    'sum(rate(noa_http_requests_total{service="noa-api"}[5m]))')
        if rng.random() < 0.005:
            token = rng.choice(tokens(rng))
            planted.append(token)
            line += f" config={token}" if rng.random() < 0.5 else f" {token}"
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines), planted


def mbps(fn: Callable[[], object], size: int, repeat: int) -> float:
    """Best throughput of ``fn`` over ``repeat`` runs, MB/s."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return size / 1_000_000 / best


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns 1 on a leak or when slower than ``--min-mbps``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--min-mbps", type=float, default=2.0)
    args = parser.parse_args(argv)
    text, planted = generate(args.mb)
    size = len(text.encode())
    lines = text.split("\n")
    redactor = Redactor([f"known-secret-{i}-{_rand(random.Random(i), 12)}" for i in range(10)])
    redactor.text("warm up: builds the detectors once")
    old = mbps(lambda: old_redact(text), size, args.repeat)
    new = mbps(lambda: redactor.text(text), size, args.repeat)
    notebook = {"cells": [{"outputs": [{"text": lines[i:i + 50]}]}
                          for i in range(0, len(lines), 50)]}
    record = mbps(lambda: redactor.data(notebook), size, args.repeat)
    per_line = mbps(lambda: [redactor.text(line) for line in lines], size, args.repeat)
    out = redactor.text(text)
    out_record = json.dumps(redactor.data(notebook))
    leaked = [t for t in planted if t in out or t in out_record]
    old_out = old_redact(text)
    old_leaked = [t for t in planted if t in old_out]
    print(f"text: {size / 1e6:.1f} MB, {len(lines)} lines, {len(planted)} planted tokens")
    print(f"old regex-only redactor : {old:8.1f} MB/s  (baseline; {len(old_leaked)} tokens kept)")
    print(f"new redactor, one string: {new:8.1f} MB/s  ({new / old:.2f}x the baseline)")
    print(f"new redactor, a record  : {record:8.1f} MB/s  ({record / old:.2f}x the baseline)")
    print(f"new redactor, per line  : {per_line:8.1f} MB/s  ({per_line / old:.2f}x the baseline)")
    print(f"tokens surviving the new redactor: {len(leaked)}")
    ok = not leaked and min(new, record) >= args.min_mbps
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
