# One entry point for people, CI and hooks. `make run` and `make test` are the quick start.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	&& { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint typecheck pytest bench sample-report openapi system-deps clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is required" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

## run: serve on $$PORT (8080) with embedded defaults unless REDIS_URL / VOICEFLOW_API_KEY are set; with a real key and no shared store, fetched days are kept in .cache/ across restarts
# A real key's upstream budget is worth keeping across restarts: then the file store (CACHE_DIR=
# for none). The demo data cost nothing to fetch again, so they stay in memory.
CACHE_DIR ?= $(if $(REDIS_URL)$(DATABASE_URL),,$(if $(VOICEFLOW_API_KEY),.cache))
run: $(STAMP)
	CACHE_DIR=$(CACHE_DIR) $(BIN)/python -m service

## system-deps: redis-server, postgresql, poppler-utils (pdftoppm), chromium, promtool, node and npm for the tests, from Debian's packages
system-deps:
	@missing=""; command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v psql >/dev/null \
		|| missing="$$missing postgresql"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check service simulator warmer tests bench
	$(BIN)/ruff format --check service simulator warmer tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) system-deps
	$(BIN)/python -m pytest -q

## test: the whole suite — lint, types, and the tests against a real Redis they start
test: lint typecheck pytest

## bench: every benchmark, figures printed (wrk from Debian's packages, Flask for the baseline)
bench: $(STAMP) system-deps
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python -m bench

## sample-report: re-render docs/sample-report-*.png from the demo data (a 30-day PDF export)
sample-report: $(STAMP) system-deps
	$(BIN)/python -m bench.sample_report

## openapi: write openapi.json from the code (the default deployment's document), then the TypeScript client's types from it
openapi: $(STAMP) system-deps
	$(BIN)/python -m service.http.openapi_file
	cd clients/typescript && { test -d node_modules || npm ci --no-audit --no-fund; } && npm run --silent generate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
