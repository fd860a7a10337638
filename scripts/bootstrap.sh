#!/usr/bin/env bash
# Bootstrap a machine for NOA Runbooks: a virtualenv with the package and its test tools, and the
# PostgreSQL, Prometheus, Alertmanager, Redis and exporter binaries the sandbox runs. Safe to
# repeat: each step is skipped when done.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${NOA_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
say() { printf 'bootstrap: %s\n' "$*" >&2; }

# apt-get install with no service allowed to start: policy-rc.d answers 101 while it runs (the
# sandbox runs its own copies on loopback ports); only a policy file this script created is removed
apt_install_quietly() {
    export DEBIAN_FRONTEND=noninteractive
    local made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    if [ -n "$made_policy" ]; then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
}

# 1. Python >= 3.11
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    say "Python 3.11 or newer is required (found: $("$PYTHON" --version 2>&1 || echo none))"
    exit 1
fi

# 2. PostgreSQL server binaries (initdb, pg_ctl, pg_dump…) for the sandbox
have_pg() {
    compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || command -v pg_ctl >/dev/null
}
if have_pg; then
    say "PostgreSQL binaries: present"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "PostgreSQL binaries missing: installing Debian's postgresql package (apt-get)…"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql postgresql-contrib >/dev/null
    have_pg || { say "postgresql installed but pg_ctl not found"; exit 1; }
else
    say "PostgreSQL server binaries are missing: install them (Debian/Ubuntu:"
    say "  sudo apt-get install -y postgresql) and run this again."
    exit 1
fi

# 2b. Prometheus, promtool and Alertmanager for the sandbox's monitoring stack (Debian packages;
#     nothing is started by apt here: the sandbox runs them itself on free loopback ports)
have_prom() {
    command -v prometheus >/dev/null && command -v promtool >/dev/null \
        && command -v prometheus-alertmanager >/dev/null
}
if have_prom; then
    say "Prometheus and Alertmanager binaries: present"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "Prometheus/Alertmanager missing: installing Debian's packages (apt-get, ~20 s)…"
    apt_install_quietly prometheus prometheus-alertmanager  # nothing left on 9090/9093
    have_prom || { say "prometheus installed but binaries not found"; exit 1; }
else
    say "Prometheus is missing: install it (Debian/Ubuntu:"
    say "  sudo apt-get install -y prometheus prometheus-alertmanager) and run this again."
    exit 1
fi

# 2b'. Redis and the data-store exporters (postgres_exporter, redis_exporter) for the sandbox's
#      NOA Server cache and its PostgreSQL/Redis metrics (Debian packages). As above, no service
#      may start during the install, and any unit the package enabled is stopped and disabled: the
#      sandbox runs its own copies on loopback ports, with its own passwords.
have_datastores() {
    command -v redis-server >/dev/null && command -v prometheus-postgres-exporter >/dev/null \
        && command -v prometheus-redis-exporter >/dev/null
}
if have_datastores; then
    say "Redis, postgres_exporter and redis_exporter binaries: present"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "Redis/exporters missing: installing Debian's redis-server, prometheus-postgres-exporter"
    say "  and prometheus-redis-exporter (apt-get, no service started)…"
    apt_install_quietly redis-server prometheus-postgres-exporter prometheus-redis-exporter
    have_datastores || { say "Redis/exporters installed but binaries not found"; exit 1; }
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        for unit in redis-server prometheus-postgres-exporter prometheus-redis-exporter; do
            systemctl disable --now "$unit" >/dev/null 2>&1 || true
        done
    fi
    # Without systemd nothing should run; say so if a packaged daemon does anyway.
    for bin in redis-server prometheus-postgres-exporter prometheus-redis-exporter; do
        if pids="$(pidof "$bin" 2>/dev/null)"; then
            say "warning: a system $bin is running (pids $pids);"
            say "  the sandbox does not use it: stop it with your init system"
        fi
    done
else
    say "Redis or the exporters are missing: install them (Debian/Ubuntu: sudo apt-get install -y"
    say "  redis-server prometheus-postgres-exporter prometheus-redis-exporter) and run this again."
    exit 1
fi

# 2c. curl (>= 7.75, for --aws-sigv4): the sandbox PostgreSQL archives WAL to S3 with it
if ! command -v curl >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "curl missing: installing it (apt-get)…"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl >/dev/null
    else
        say "curl is missing: install it (sudo apt-get install -y curl) and run this again."
        exit 1
    fi
fi

# 3. The virtualenv with the product (noa-runbooks, editable, with its dev tools) and the sandbox
#    (noa-sandbox from sandbox/, a separate distribution), reinstalled when either pyproject changes
STAMP="$VENV/.noa-installed"
WANT="$(cat "$ROOT/pyproject.toml" "$ROOT/sandbox/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtualenv $VENV"
    "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    say "installing noa-runbooks and noa-sandbox with their dependencies into $VENV (2-3 minutes the first time)…"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -U pip
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT[dev]" -e "$ROOT/sandbox"
    echo "$WANT" > "$STAMP"
else
    say "virtualenv up to date ($VENV)"
fi
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null 2>&1 || true
say "ready: $VENV/bin/noa"
