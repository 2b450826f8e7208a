# The two commands: `make run` (the whole stack, Ctrl-C stops it) and `make test` (every test, unit and
# integration). Both install what they need first, so either works alone on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3.11
UV_VERSION := 0.13.8
UV := .tools/uv/bin/uv
VENV := .venv
# Members checked one by one: each has its own tests/ package layout, which one mypy run would see twice.
MYPY_TARGETS := libs/contracts services/gateway services/query services/orchestrator services/executor deploy/devstack tests

.PHONY: setup run test lint system-deps

system-deps:
	@bash deploy/system-deps.sh

$(UV):
	$(PYTHON) -m venv .tools/uv
	.tools/uv/bin/pip install --quiet uv==$(UV_VERSION)

setup: system-deps $(UV)
	@UV_PYTHON_DOWNLOADS=never $(UV) sync --all-packages --locked --python $(PYTHON) --quiet
	@$(VENV)/bin/flowmatic fetch

run: setup
	$(VENV)/bin/flowmatic up

test: setup
	$(VENV)/bin/pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@for target in $(MYPY_TARGETS); do \
		if find $$target -name '*.py' -not -path '*/.*' | grep -q .; then \
			echo "mypy --strict $$target"; $(VENV)/bin/mypy --strict $$target || exit 1; \
		fi; \
	done
