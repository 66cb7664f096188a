# The two commands of the README. Both create the environment from the lock file first.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
LANDING ?= $(or $(CIF_LANDING),landing)
DEMO_CUSTOMERS ?= 2000
LOCKSUM := $(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
STAMP  := $(VENV)/.installed-$(LOCKSUM)
SPARK_STAMP := $(VENV)/.spark-$(LOCKSUM)
# uv installs the locked packages from the registry as pip would, in seconds where pip takes
# minutes (a fresh venv here: 9 s against 82 s; the Spark extra 24 s against 78 s). Unlike pip
# it leaves the bytecode to the first import, and the test suite's workers and the `cif`
# processes they start would all compile the same modules at once: --compile-bytecode does it
# here, once (the whole install with the Spark extra: 46 s).
UV     := uv==0.13.9
INSTALL := $(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode \
	--constraint requirements.lock

.PHONY: run test test-spark setup spark lint clean browser

## make run: set up, generate demo data if the landing zone is empty, run the nightly job
run: $(STAMP)
	@if [ -z "$$(ls -A $(LANDING) 2>/dev/null)" ]; then \
		echo "==> Landing zone $(LANDING) is empty: generating demo data ($(DEMO_CUSTOMERS) customers)"; \
		$(BIN)/cif generate --out $(LANDING) --customers $(DEMO_CUSTOMERS); \
	fi
	@echo "==> Running the nightly job"
	$(BIN)/cif run --landing $(LANDING)

## make test: set up (with the Spark engine's extra), lint, run the whole test suite on three
## workers, one test file each at a time, the longest first (tests/conftest.py): the third keeps
## the two cores busy while the others wait on a subprocess, a lock or the JVM.
## CIF_SPARK_TESTS=required turns a missing pyspark or Java into a failure, not a skip, so CI
## runs the Spark parity test.
test: $(SPARK_STAMP)
	@$(MAKE) --no-print-directory --output-sync=target -j2 lint browser
	@echo "==> Running the test suite"
	CIF_SPARK_TESTS=required $(BIN)/pytest -n 3 --dist loadfile --no-loadscope-reorder

## make test-spark: the Spark engine's extra, then only its parity test (the same marts as on
## DuckDB).
test-spark: $(SPARK_STAMP)
	CIF_SPARK_TESTS=required $(BIN)/pytest tests/test_engine_parity.py

## spark: the extra `spark` (pyspark, dbt-spark) for CIF_ENGINE=spark and its tests
spark: $(SPARK_STAMP)

$(SPARK_STAMP): $(STAMP)
	@echo "==> Installing the Spark engine (extra spark: pyspark, dbt-spark)"
	$(INSTALL) --editable '.[dev,spark]'
	@rm -f $(VENV)/.spark-*
	@touch $@

lint: $(STAMP)
	@echo "==> ruff"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@echo "==> sqlfluff (dbt models)"
	$(BIN)/sqlfluff lint dbt_project/models dbt_project/tests --disable-progress-bar

setup: $(STAMP)

## browser: headless Chromium for the frontline's browser test (Debian packages, as root);
## without it that test skips and says why.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "==> Installing chromium and chromium-driver (browser test)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
			|| echo "==> Could not install Chromium: the browser test will skip"; \
	else echo "==> No Chromium and not root with apt-get: the browser test will skip"; fi

$(STAMP): requirements.lock pyproject.toml
	@echo "==> Creating $(VENV) with the pinned dependencies (requirements.lock)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24" "$(UV)"
	$(INSTALL) --editable '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs .pytest_cache .ruff_cache
