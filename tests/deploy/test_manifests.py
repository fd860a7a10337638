"""deploy/: Kubernetes manifests valid against the API schemas, and the policies we promise.

Schemas come from ``kubernetes-validate`` (offline OpenAPI schemas; ``strict=True`` rejects unknown
fields). The policy checks: Forbid, no retries, deadlines, resources, non-root read-only
containers, no token and no secret values in the manifests, runbooks and parameters that exist,
and schedules that never overlap on the shared records volume.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from noa_lib.cli import _parser
from noa_lib.config import load_config
from noa_lib.records.catalog import Catalog
from noa_lib.records.parameters import bind

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
K8S_VERSION = "1.30"
NAMESPACE = "noa"
SECRET_NAME = "noa-runbooks-credentials"
SECRET_LIKE = re.compile(r"(PASSWORD|SECRET|TOKEN|ACCESS_KEY|CREDENTIAL)", re.I)


def documents() -> list[tuple[Path, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path, doc))
    return docs


DOCS = documents()
CRONJOBS = [doc for _, doc in DOCS if doc["kind"] == "CronJob"]


def pod_spec(cronjob: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def test_there_are_the_three_backup_cronjobs() -> None:
    names = {c["metadata"]["name"] for c in CRONJOBS}
    assert names == {"noa-full-backup", "noa-validate-backup", "noa-backup-retention"}


@pytest.mark.parametrize("path,doc", DOCS, ids=lambda v: v.name if isinstance(v, Path) else
                         f"{v['kind']}/{v['metadata']['name']}")
def test_manifest_is_valid_against_the_kubernetes_schema(path: Path, doc: dict[str, Any]) -> None:
    assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True) == K8S_VERSION


def test_strict_validation_catches_unknown_fields() -> None:
    broken = yaml.safe_load((K8S / "cronjob-full-backup.yaml").read_text())
    broken["spec"]["jobTemplate"]["spec"]["backofLimit"] = 0  # typo
    with pytest.raises(kubernetes_validate.ValidationError, match="backofLimit"):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    assert kustomization["namespace"] == NAMESPACE


def test_everything_lives_in_the_noa_namespace_which_is_not_created_here() -> None:
    for path, doc in DOCS:
        assert doc["kind"] != "Namespace", path
        assert doc["metadata"]["namespace"] == NAMESPACE, path


def test_no_secret_objects_and_no_secret_values_inline() -> None:
    assert not [d for _, d in DOCS if d["kind"] == "Secret"], "Secrets are created out of band"
    for cronjob in CRONJOBS:
        for container in pod_spec(cronjob)["containers"]:
            assert "envFrom" not in container, "name each secret key explicitly"
            for env in container.get("env", []):
                if SECRET_LIKE.search(env["name"]):
                    assert "value" not in env, f"{env['name']} must not be inline"
                    ref = env["valueFrom"]["secretKeyRef"]
                    assert ref["name"] == SECRET_NAME and ref["key"]
                else:
                    assert not SECRET_LIKE.search(str(env.get("value", "")))


def test_configmap_holds_a_valid_config_with_only_secret_references(tmp_path: Path) -> None:
    configmap = next(d for _, d in DOCS if d["kind"] == "ConfigMap")
    text = configmap["data"]["noa.toml"]
    (tmp_path / "noa.toml").write_text(text)
    config = load_config(tmp_path / "noa.toml", env={})  # refuses literal secrets
    prod = config.target("prod")
    assert prod.protected and config.default_target == "prod"
    assert all(ref.scheme == "env" for ref in prod.secret_refs())
    assert str(config.reports_dir) == "/var/lib/noa/reports"
    # every variable the config refers to is provided by every CronJob that needs it
    names = {ref.ref.split(":", 1)[1] for ref in prod.secret_refs()}
    for cronjob in CRONJOBS:
        env = {e["name"] for c in pod_spec(cronjob)["containers"] for e in c.get("env", [])}
        needs = {n for n in names if "AWS" in n}
        if cronjob["metadata"]["name"] != "noa-backup-retention":  # retention touches S3 only
            needs = {n for n in names if "PROMETHEUS" not in n}
        assert needs <= env, (cronjob["metadata"]["name"], needs - env)
    assert tomllib.loads(text)["reports_dir"] == "/var/lib/noa/reports"


def test_service_account_gets_no_token_and_the_role_no_secret_access() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]): d for _, d in DOCS}
    account = kinds[("ServiceAccount", "noa-runbooks")]
    assert account["automountServiceAccountToken"] is False
    role = kinds[("Role", "noa-runbooks")]
    for rule in role.get("rules") or []:
        assert "*" not in rule.get("verbs", []) and "*" not in rule.get("resources", [])
        assert "secrets" not in rule.get("resources", [])
        assert "pods/exec" not in rule.get("resources", [])
    binding = kinds[("RoleBinding", "noa-runbooks")]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "noa-runbooks"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "noa-runbooks",
                                    "namespace": NAMESPACE}]
    assert not [d for _, d in DOCS if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]


@pytest.mark.parametrize("cronjob", CRONJOBS, ids=lambda c: c["metadata"]["name"])
def test_cronjob_policies(cronjob: dict[str, Any]) -> None:
    spec = cronjob["spec"]
    job = spec["jobTemplate"]["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["timeZone"] == "Etc/UTC"
    assert 0 < spec["startingDeadlineSeconds"] <= 3600
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    assert job["backoffLimit"] == 0, "a failed drill must stay failed"
    assert job["activeDeadlineSeconds"] > 0
    pod = pod_spec(cronjob)
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "noa-runbooks"
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == dockerfile_uid()
    volumes = {v["name"]: v for v in pod["volumes"]}
    for container in pod["containers"]:
        resources = container["resources"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[bound]), (container["name"], bound)
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert "emptyDir" in volumes[mounts["/tmp"]]
        assert "persistentVolumeClaim" in volumes[mounts["/var/lib/noa/reports"]]
        assert volumes[mounts["/etc/noa"]]["configMap"]["name"] == "noa-runbooks-config"
        env = {e["name"]: e.get("value") for e in container["env"]}
        if "NOA_SCRATCH_DIR" in env:  # the drill's download area is a sized emptyDir
            scratch = volumes[mounts[env["NOA_SCRATCH_DIR"]]]["emptyDir"]
            assert scratch["sizeLimit"]


def check_command(args: list[str], where: str) -> dict[str, Any]:
    """Parse ``noa`` arguments as the CLI does and bind the parameters as the runner does."""
    parsed = _parser().parse_args(args)
    assert parsed.command == "run", where
    book = Catalog(ROOT / "notebooks").get(parsed.runbook)
    given: dict[str, Any] = dict(parsed.parameter)
    given["target"] = parsed.target
    bound = bind(book.parameters, given, runbook=book.id)  # unknown names / bad values raise
    assert parsed.trigger == "cron", where
    if book.risk == "mutating" and bound.get("dry_run") is False:
        assert bound.get("confirm") == parsed.target, f"{where}: applying needs confirm=<target>"
    return {"runbook": book.id, "target": parsed.target, **bound}


@pytest.mark.parametrize("cronjob", CRONJOBS, ids=lambda c: c["metadata"]["name"])
def test_cronjob_runs_an_existing_runbook_with_declared_parameters(cronjob: dict[str, Any]) -> None:
    (container,) = pod_spec(cronjob)["containers"]
    run = check_command(container["args"], cronjob["metadata"]["name"])
    assert run["target"] == "prod"
    expected = {"noa-full-backup": "backup/full_backup",
                "noa-validate-backup": "backup/validate_backup",
                "noa-backup-retention": "backup/retention"}[cronjob["metadata"]["name"]]
    assert run["runbook"] == expected


def cron_starts(schedule: str, week_start: datetime) -> list[datetime]:
    """Start times within one week for a `m h * * dow` schedule (numbers or *)."""
    minute, hour, dom, month, dow = schedule.split()
    assert dom == "*" and month == "*", "only daily/weekly schedules are used"
    starts = []
    for day in range(7):
        moment = week_start + timedelta(days=day)
        cron_dow = (moment.weekday() + 1) % 7  # cron: 0 = Sunday
        if dow != "*" and cron_dow not in {int(d) for d in dow.split(",")}:
            continue
        starts.append(moment.replace(hour=int(hour), minute=int(minute)))
    return starts


def test_schedules_never_overlap_on_the_records_volume() -> None:
    week = datetime(2026, 11, 23)  # a Monday
    windows = []
    for cronjob in CRONJOBS:
        spec = cronjob["spec"]
        pod = pod_spec(cronjob)
        longest = timedelta(seconds=spec["startingDeadlineSeconds"]
                            + spec["jobTemplate"]["spec"]["activeDeadlineSeconds"]
                            + pod["terminationGracePeriodSeconds"])
        for start in cron_starts(spec["schedule"], week - timedelta(days=7)) + cron_starts(
                spec["schedule"], week):
            windows.append((start, start + longest, cronjob["metadata"]["name"]))
    windows.sort()
    for (_, end, name), (start, _, other) in zip(windows, windows[1:], strict=False):
        assert end <= start, f"{name} may still run when {other} starts at {start}"
    full = next(w for w in windows if w[2] == "noa-full-backup")
    drill = next(w for w in windows if w[2] == "noa-validate-backup" and w[0] > full[0])
    assert full[0] < drill[0], "the drill runs after the night's backup"


def dockerfile_uid() -> int:
    text = (DEPLOY / "Dockerfile").read_text()
    match = re.search(r"^ARG NOA_UID=(\d+)$", text, re.M)
    assert match
    return int(match.group(1))


def test_dockerfile_builds_a_non_root_image_with_noa_as_entrypoint() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert re.search(r"postgresql-client-\$\{PG_MAJOR\}", text)
    assert re.search(r"^ARG PG_MAJOR=15$", text, re.M)  # the sandbox's and Debian's server major
    assert re.search(r"pip install \.", text)
    user = re.findall(r"^USER (\S+)$", text, re.M)
    assert user and user[-1].split(":")[0] in ("${NOA_UID}", str(dockerfile_uid()))
    entrypoint = re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M)
    assert entrypoint and yaml.safe_load(entrypoint.group(1))[-1] == "noa"
    for variable in ("NOA_CONFIG=/etc/noa/noa.toml", "NOA_NOTEBOOKS_DIR=/opt/noa/notebooks",
                     "NOA_REPORTS_DIR=/var/lib/noa/reports"):
        assert variable in text
    assert "COPY notebooks" in text


def crontab_jobs() -> list[str]:
    lines = (DEPLOY / "crontab.example").read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#") and "=" not in
            line.split()[0]]


def test_crontab_example_guards_logs_and_runs_valid_commands() -> None:
    text = (DEPLOY / "crontab.example").read_text()
    assert re.search(r"^MAILTO=\S+@\S+$", text, re.M)
    assert re.search(r"^CRON_TZ=UTC$", text, re.M)
    jobs = crontab_jobs()
    assert len(jobs) == 3
    schedules = {c["metadata"]["name"].removeprefix("noa-"): c["spec"]["schedule"]
                 for c in CRONJOBS}
    runbooks = set()
    for line in jobs:
        fields = line.split(None, 5)
        schedule, command = " ".join(fields[:5]), fields[5]
        words = shlex.split(command.split("&&", 1)[1].split(">>", 1)[0])
        assert words[:2] == ["flock", "-n"] and words[2].startswith("/tmp/noa-")
        assert words[3].endswith("/bin/noa")
        run = check_command(words[4:], line)
        runbooks.add(run["runbook"])
        assert ">>" in command and "2>&1" in command, "every run is logged"
        name = {"backup/full_backup": "full-backup", "backup/validate_backup": "validate-backup",
                "backup/retention": "backup-retention"}[run["runbook"]]
        assert schedule == schedules[name], f"{name}: same schedule as the CronJob"
        assert SECRET_LIKE.search(command) is None or "$NOA_ENV" in command
    assert runbooks == {"backup/full_backup", "backup/validate_backup", "backup/retention"}
