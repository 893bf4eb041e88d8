# mailhost: `make run` starts a demo host, `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck bench bench-store bench-reference wheel clean help

help:
	@echo "make run    - set up and start the demo host under ./var (loopback ports)"
	@echo "make test   - set up and run the whole test suite"
	@echo "make lint   - ruff"
	@echo "make bench  - mailhost's own benchmarks (and the reference harness if set up)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/mailhost demo --dir var

test: $(STAMP)
	./scripts/test-deps.sh
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q
	@echo "again with the change feed's push off: sessions must converge on the pull alone"
	MAILHOST_TEST_PUSH=off $(BIN)/python -m pytest -q tests/imap tests/integration/test_cross_protocol.py \
	    tests/integration/test_imap_random_mix.py tests/integration/test_imap_condstore.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/store_bench.py
	@if [ -x ../shared/bench/bench.sh ] && [ -d /tmp/perf-venv ]; then \
	    WORKLOADS=$${WORKLOADS:-pop3,large} ../shared/bench/bench.sh bench/mailhost.sh dovecot-fast; \
	else echo "reference harness not set up: run ../shared/bench/setup.sh once, then make bench"; fi

wheel: $(STAMP)
	$(BIN)/python -m pip wheel --no-deps -w dist .

clean:
	rm -rf $(VENV) build dist src/*.egg-info
