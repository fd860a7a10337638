"""Run a runbook headless (papermill) and keep the executed notebook as a record.

Every run, whatever its outcome, leaves ``<reports>/<area>/<runbook>/<UTC>_<run id>.ipynb`` and an
HTML rendering beside it, with ``metadata.noa`` describing the run. Parameters are checked against
the notebook's declarations before a kernel starts. The kernel writes into a private temporary
directory; the record is redacted and only then written (atomically) into the reports tree, so no
unredacted byte reaches it and nothing half-written looks like a record.

Exit codes (:class:`ExitCode`): 0 succeeded (also stopped early on purpose), 1 the runbook failed,
2 bad parameters or usage, 3 infrastructure (kernel died, a backend was unreachable, cell timeout).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

from noa_lib.config import Config, load_config
from noa_lib.errors import NoaError, ParameterError
from noa_lib.files import atomic_write_text
from noa_lib.journal import EVENT_MIME, OUTCOME_MIME
from noa_lib.records.catalog import Catalog, Runbook, cell_source
from noa_lib.records.metadata import current_operator
from noa_lib.records.parameters import bind
from noa_lib.records.redaction import Redactor, known_secrets
from noa_lib.records.store import record_dir, record_stem

log = logging.getLogger(__name__)

METADATA_SCHEMA = 1
# exceptions raised inside a runbook that mean "a backend was not there", not "the check failed"
INFRASTRUCTURE_ERRORS = frozenset(
    {"Unavailable", "Timeout", "ConnectionError", "ConnectionRefusedError", "OperationalError"}
)


class ExitCode(IntEnum):
    """Exit status of ``noa run``."""

    SUCCEEDED = 0
    FAILED = 1
    USAGE = 2
    INFRASTRUCTURE = 3


@dataclass(frozen=True)
class Trigger:
    """Why the run happened: ``manual``, ``cron`` or ``alert`` (with the alert's fingerprint)."""

    kind: str = "manual"
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("manual", "cron", "alert"):
            raise ParameterError(
                f"trigger {self.kind!r} is not valid; accepted: manual, cron, alert",
                name="trigger",
                accepted="manual, cron, alert",
            )


@dataclass(frozen=True)
class RunRequest:
    """What to run, where, with which parameter values (text or YAML values, typed later)."""

    runbook: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    target: str | None = None
    trigger: Trigger = Trigger()
    reports_dir: Path | None = None
    cell_timeout: float | None = 1800.0
    html: bool = True
    fail_on: str | None = None  # outcome status at or above which the exit code is 1
    progress_bar: bool = False  # per-cell progress on stderr (for a terminal)
    incident: str | None = None  # id of the incident this run belongs to (must exist)


@dataclass(frozen=True)
class RunResult:
    """How a run ended and where its record is."""

    run_id: str
    status: str  # succeeded | failed | stopped-early
    exit_code: ExitCode
    record: Path | None
    html: Path | None
    metadata: dict[str, Any]
    message: str


@dataclass(frozen=True)
class Prepared:
    """A request checked against the catalogue, configuration and declarations."""

    runbook: Runbook
    config: Config
    parameters: dict[str, Any]
    target: str | None


def prepare(request: RunRequest) -> Prepared:
    """Resolve the runbook, the target and typed parameters; nothing is executed.

    Raises:
        ParameterError: unknown runbook/parameter, ill-typed or missing value.
        ConfigError: broken configuration or unknown target.
    """
    config = load_config()
    runbook = Catalog().get(request.runbook)
    declared = runbook.parameters
    given = dict(request.parameters)
    names = {p.name for p in declared}
    target: str | None = None
    if "target" in names:
        if request.target is not None and "target" in given and given["target"] != request.target:
            raise ParameterError(
                "target given twice with different values (--target and -p target)",
                name="target",
            )
        given["target"] = given.get("target") or request.target or config.default_target
    elif request.target is not None:
        raise ParameterError(f"{runbook.id} takes no target", name="target")
    if "incident" in names and request.incident is not None and not given.get("incident"):
        given["incident"] = request.incident  # the incident runbooks act on their incident
    bound = bind(declared, given, runbook=runbook.id)
    if "target" in bound:
        target = str(bound["target"])
        config.target(target)  # unknown target -> ConfigError listing the configured ones
    return Prepared(runbook, config, bound, target)


def run(request: RunRequest, *, progress: Callable[[str], None] | None = None) -> RunResult:
    """Execute ``request`` and write its record.

    Raises:
        ParameterError, ConfigError: before anything is executed (exit code 2 territory), also
            for an ``incident`` that does not exist.
    """
    prepared = prepare(request)
    runbook, config = prepared.runbook, prepared.config
    reports_dir = request.reports_dir or config.reports_dir
    incident = _incident_of(request, prepared.parameters)
    if incident is not None:
        _incident_store(reports_dir).get(incident)  # UnknownIncident before anything runs
    run_id = uuid.uuid4().hex[:12]
    started = datetime.now(UTC)
    redactor = Redactor(known_secrets(config))

    def say(message: str) -> None:  # progress lines end up in logs: scrub them too
        if progress is not None:
            progress(redactor.text(message))

    say(f"running {runbook.id} on target {prepared.target or '-'} (run {run_id})")

    workdir = Path(tempfile.mkdtemp(prefix="noa-run-"))  # 0700: unredacted output stays private
    try:
        raw_out = workdir / "executed.ipynb"
        # the kernel learns where its record goes, so a draft can be written beside it
        planned = record_dir(reports_dir, runbook.id) / f"{record_stem(started, run_id)}.ipynb"
        error, exit_code = _execute(runbook, prepared, raw_out, request, reports_dir, say,
                                    planned)
        ended = datetime.now(UTC)
        notebook = _load_output(raw_out, runbook)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    status = _status(notebook, error)
    if error is not None:
        _ensure_banner(notebook, error)
    outcome, timeline = _collect(notebook)
    if exit_code == ExitCode.SUCCEEDED and request.fail_on and outcome.get("status"):
        if _at_or_worse(str(outcome["status"]), request.fail_on):
            exit_code = ExitCode.FAILED
    stem = record_stem(started, run_id)
    directory = record_dir(reports_dir, runbook.id)
    rel_dir = directory.relative_to(reports_dir).as_posix()
    meta: dict[str, Any] = {
        "schema": METADATA_SCHEMA,
        "run_id": run_id,
        "runbook": runbook.id,
        "area": runbook.area,
        "title": runbook.title,
        "source": {"path": f"notebooks/{runbook.id}.ipynb", "sha256": runbook.sha256},
        "git_commit": _git_commit(runbook.path.parent),
        "target": prepared.target,
        "operator": current_operator(),
        "trigger": {"kind": request.trigger.kind, "fingerprint": request.trigger.fingerprint},
        "incident": incident,
        "started_at": _iso(started),
        "ended_at": _iso(ended),
        "duration_s": round((ended - started).total_seconds(), 3),
        "status": status,
        "exit_code": int(exit_code),
        "error": error,
        "parameters": prepared.parameters,
        "outcome": outcome,
        "timeline": timeline,
        "record": {
            "ipynb": f"{rel_dir}/{stem}.ipynb",
            "html": f"{rel_dir}/{stem}.html" if request.html else None,
        },
    }
    notebook.setdefault("metadata", {})["noa"] = meta
    clean: dict[str, Any] = redactor.data(notebook)
    meta = clean["metadata"]["noa"]

    html_path: Path | None = None
    if request.html:
        html_path = _write_html(clean, directory / f"{stem}.html", redactor, meta, say)
    record = directory / f"{stem}.ipynb"
    atomic_write_text(record, json.dumps(clean, indent=1, ensure_ascii=False) + "\n")
    _index(reports_dir, meta)
    if incident is not None:
        _link(reports_dir, incident, meta)
    message = _message(meta)
    say(message)
    return RunResult(run_id, status, exit_code, record, html_path, meta, message)


def _execute(
    runbook: Runbook,
    prepared: Prepared,
    out: Path,
    request: RunRequest,
    reports_dir: Path,
    say: Callable[[str], None],
    record: Path,
) -> tuple[dict[str, Any] | None, ExitCode]:
    """Run papermill (the kernel sees ``NOA_RECORD``: ``record``'s path); return (error
    description or None, exit code)."""
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    # the kernel sees the same configuration and records root as this run
    env = {"NOA_REPORTS_DIR": str(reports_dir), "NOA_RECORD": str(record)}
    if prepared.config.source:
        env["NOA_CONFIG"] = str(prepared.config.source)
    # papermill warns about parameters it cannot infer (quoted Literal types): we validated them
    logging.getLogger("papermill").setLevel(logging.ERROR)
    try:
        with _environ(env):
            papermill.execute_notebook(
                str(runbook.path),
                str(out),
                parameters=prepared.parameters,
                kernel_name="python3",
                cwd=str(runbook.path.parent),
                progress_bar=request.progress_bar,
                log_output=False,
                # saved after every cell into the private workdir: a dying kernel leaves its trace
                request_save_on_cell_execute=True,
                execution_timeout=request.cell_timeout,
                # the kernel's own start-up chatter (TCP transport notice) is not for the operator
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
    except PapermillExecutionError as exc:
        code = ExitCode.INFRASTRUCTURE if exc.ename in INFRASTRUCTURE_ERRORS else ExitCode.FAILED
        say(f"runbook failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}")
        return {"ename": exc.ename, "evalue": exc.evalue, "cell": exc.exec_count}, code
    except DeadKernelError as exc:
        say("the kernel died during the run")
        return {"ename": "DeadKernelError", "evalue": str(exc) or "kernel died", "cell": None}, (
            ExitCode.INFRASTRUCTURE
        )
    except CellTimeoutError as exc:
        say(f"a cell exceeded the {request.cell_timeout} s timeout")
        return {"ename": "CellTimeoutError", "evalue": str(exc)[:500], "cell": None}, (
            ExitCode.INFRASTRUCTURE
        )
    except (RuntimeError, OSError) as exc:  # kernel failed to start, broken kernelspec…
        say(f"could not execute the notebook: {exc}")
        return {"ename": type(exc).__name__, "evalue": str(exc)[:500], "cell": None}, (
            ExitCode.INFRASTRUCTURE
        )
    return None, ExitCode.SUCCEEDED


def _load_output(path: Path, runbook: Runbook) -> dict[str, Any]:
    """The executed notebook; the source notebook when papermill wrote nothing (kernel death)."""
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        copy: dict[str, Any] = json.loads(json.dumps(runbook.notebook))
        return copy


def _ensure_banner(notebook: dict[str, Any], error: dict[str, Any]) -> None:
    """Put a failure banner on top when papermill did not (kernel death, timeout)."""
    cells = notebook.setdefault("cells", [])
    if any("papermill-error-cell-tag" in c.get("metadata", {}).get("tags", []) for c in cells):
        return
    text = (
        '<span style="color:red; font-family:Helvetica Neue, Helvetica, Arial, sans-serif; '
        'font-size:2em;">An Exception was encountered during this run: '
        f"{error['ename']}: {error['evalue']}</span>"
    )
    banner: dict[str, Any] = {
        "cell_type": "markdown",
        "metadata": {"tags": ["noa-error-banner"]},
        "source": text,
    }
    if notebook.get("nbformat", 4) == 4 and notebook.get("nbformat_minor", 0) >= 5:
        banner["id"] = "noa-error-banner"
    cells.insert(0, banner)


def _status(notebook: dict[str, Any], error: dict[str, Any] | None) -> str:
    if error is not None:
        return "failed"
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code" or not cell_source(cell).strip():
            continue
        if cell.get("execution_count") is None:
            return "stopped-early"
    return "succeeded"


def _collect(notebook: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The last outcome bundle and every timeline event displayed by the run."""
    outcome: dict[str, Any] = {}
    timeline: list[dict[str, Any]] = []
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if OUTCOME_MIME in data:
                outcome = dict(data[OUTCOME_MIME])
            if EVENT_MIME in data:
                timeline.append(dict(data[EVENT_MIME]))
    return outcome, timeline


def _at_or_worse(status: str, bound: str) -> bool:
    def rank(s: str) -> int:
        return {"ok": 0, "skipped": 0, "warning": 1, "unreachable": 2, "critical": 3}.get(s, 0)

    return rank(status) >= rank(bound)


def _write_html(
    notebook: dict[str, Any],
    path: Path,
    redactor: Redactor,
    meta: dict[str, Any],
    say: Callable[[str], None],
) -> Path | None:
    from noa_lib.records.html import render_html

    try:
        html = render_html(notebook)
    except Exception as exc:  # noqa: BLE001 - the .ipynb is the evidence; never lose it to HTML
        meta["record"]["html"] = None
        say(f"warning: HTML rendering failed ({type(exc).__name__}); the .ipynb record is complete")
        return None
    atomic_write_text(path, redactor.text(html))
    return path


def _index(reports_dir: Path, meta: dict[str, Any]) -> None:
    from noa_lib.records.index import RecordIndex

    try:
        RecordIndex(reports_dir).add(meta)
    except (OSError, NoaError) as exc:  # the record is on disk; `noa reports reindex` recovers
        log.warning("could not update the records index: %s", exc)


def _incident_of(request: RunRequest, parameters: Mapping[str, Any]) -> str | None:
    """The incident the run belongs to: ``--incident``, else a runbook's own ``incident``
    parameter (the incident runbooks take the id as a parameter); both must agree."""
    declared = parameters.get("incident")
    if not isinstance(declared, str) or not declared:
        return request.incident
    if request.incident is not None and request.incident != declared:
        raise ParameterError(
            f"--incident {request.incident} and -p incident {declared} disagree; give one",
            name="incident",
        )
    return declared


def _incident_store(reports_dir: Path) -> Any:
    from noa_lib.records.incidents import IncidentStore

    return IncidentStore(reports_dir)


def _link(reports_dir: Path, incident: str, meta: dict[str, Any]) -> None:
    """Add the record to its incident; the record already names the incident, so a failure here
    costs the incident's list of records one entry, which a warning reports."""
    try:
        _incident_store(reports_dir).link_record(incident, meta)
    except (OSError, NoaError, ValueError, sqlite3.Error) as exc:
        log.warning("could not link record %s to incident %s: %s", meta["run_id"], incident, exc)


def _message(meta: dict[str, Any]) -> str:
    outcome = meta.get("outcome") or {}
    parts = [f"{meta['status']}: {meta['runbook']} ({meta['duration_s']:.1f} s)"]
    if outcome.get("status") or outcome.get("summary"):
        parts.append(f"outcome {outcome.get('status', '-')}: {outcome.get('summary', '')}")
    if meta.get("error"):
        err = meta["error"]
        parts.append(f"error {err['ename']}: {str(err['evalue'])[:300]}")
    parts.append(f"record {meta['record']['ipynb']}")
    return " — ".join(parts)


def _git_commit(where: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


__all__ = [
    "ExitCode",
    "Prepared",
    "RunRequest",
    "RunResult",
    "Trigger",
    "prepare",
    "run",
]
