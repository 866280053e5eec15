# The two commands: `make run` and `make test`. Everything else is for them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: run test test-fast check demo bench lint typecheck format-check clean-venv browser screenshots

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Stamps: pip runs again only when a requirements file changed, so `make run` works offline later.
$(VENV)/.runtime-installed: requirements.txt | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt $(VENV)/.runtime-installed
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime-installed
	$(PY) -m dashboard.runner

demo: $(VENV)/.runtime-installed
	$(PY) -m flask --app app demo

# Browser tests drive Debian's Chromium; install it when missing (needs root, as on CI).
browser:
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || \
	  { echo "installing chromium (apt-get)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Tests run in TEST_PROCESSES pytest-xdist processes (2: this machine's and CI's cores). loadgroup hands out
# tests one by one, except those marked xdist_group, which stay together on one process.
TEST_PROCESSES ?= 2
PYTEST_PARALLEL := -n $(TEST_PROCESSES) --dist loadgroup

# `make test` is the whole suite and what CI runs: lint, format check, type check, every test.
test: check browser
	$(PY) -m pytest $(PYTEST_PARALLEL)

# The edit loop: the same checks and every test but the browser ones (no Chromium needed).
test-fast: check
	$(PY) -m pytest $(PYTEST_PARALLEL) --ignore-glob='tests/test_browser_*.py'

check: lint format-check typecheck

lint: $(VENV)/.dev-installed
	$(PY) -m ruff check .

format-check: $(VENV)/.dev-installed
	$(PY) -m ruff format --check .

# mypy: strict on dashboard/rqlayer/, lenient elsewhere (pyproject.toml [tool.mypy]).
typecheck: $(VENV)/.dev-installed
	$(PY) -m mypy

# README pictures: docs/screenshots/after/ (before/ was taken from the commit before issue 13).
screenshots: $(VENV)/.dev-installed browser
	$(PY) docs/screenshots/take.py after

bench: $(VENV)/.dev-installed
	$(PY) benchmarks/pages.py --quick
	$(PY) benchmarks/bulk_retry.py --quick
	$(PY) benchmarks/batch_enqueue.py
	$(PY) benchmarks/hostile_pages.py
	$(PY) benchmarks/batch_upload_memory.py
	$(PY) benchmarks/login_timing.py
	$(PY) benchmarks/worker_overhead.py
	$(PY) benchmarks/metrics_memory.py
	$(PY) benchmarks/history.py --quick
	$(PY) benchmarks/collector.py
	$(PY) benchmarks/event_feeds.py
	$(PY) benchmarks/load.py

clean-venv:
	rm -rf $(VENV)
