# NOA Runbooks — quick-start targets. `make demo` and `make test` bootstrap what they need.
VENV   ?= .venv
NOA    := $(VENV)/bin/noa
PY     := $(VENV)/bin/python

.PHONY: help bootstrap demo sandbox-up sandbox-down test test-fast lint bench bench-all jupyter clean

help:
	@echo "make demo        run the main job: a runbook against the local sandbox, record in reports/"
	@echo "make test        run the whole test suite (starts the sandbox; executes every notebook)"
	@echo "make lint        ruff (library, tests, notebooks: check + format), mypy --strict, import contracts"
	@echo "make bench       records-index and redaction benchmarks (ratios against a baseline from the same run)"
	@echo "make bench-all   also alert triage latency and 1 GB backup/restore (~15 min)"
	@echo "make jupyter     JupyterLab on the notebooks, for stepping through a runbook"
	@echo "make sandbox-down  stop the sandbox"

bootstrap:
	@scripts/bootstrap.sh

sandbox-up: bootstrap
	@$(NOA) sandbox up

sandbox-down:
	@if [ -x $(NOA) ]; then $(NOA) sandbox down; fi

demo: sandbox-up
	@echo "== running monitoring/connectivity_check and monitoring/database_health on the sandbox"
	$(NOA) run monitoring/connectivity_check --target sandbox
	$(NOA) run monitoring/database_health --target sandbox
	@echo "== what the runbooks read in the sandbox's Prometheus (the series real exporters publish)"
	$(NOA) metrics check --target sandbox
	@echo "== deployment: the checklist for 2.15.0 (NO-GO until the human items are signed) and a canary dry run"
	$(NOA) run deployment/pre_deployment_checklist --target sandbox -p image_tag 2.15.0
	$(NOA) run deployment/canary --target sandbox -p image_tag 2.15.0
	@echo "== records (open the .ipynb in JupyterLab or the .html in a browser):"
	@$(NOA) reports list --limit 5

# Two workers: the tests that use the shared project sandbox run in order on one of them (one
# xdist group, see tests/conftest.py), each other test directory stays together on one worker.
TEST_WORKERS ?= 2
test: sandbox-up
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup

test-fast: bootstrap
	$(PY) -m pytest tests/unit

lint: bootstrap
	$(VENV)/bin/ruff check noa_lib sandbox tests bench notebooks
	$(VENV)/bin/ruff format --check notebooks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: bootstrap
	$(PY) -m bench.bench_index --records 10000
	$(PY) -m bench.bench_redaction --mb 8

bench-all: bench sandbox-up
	$(PY) -m bench.bench_alerts
	$(PY) -m bench.bench_backup --size-mb 1024

jupyter: sandbox-up
	$(VENV)/bin/jupyter lab --no-browser --ip 127.0.0.1 notebooks

clean: sandbox-down
	rm -rf .sandbox
