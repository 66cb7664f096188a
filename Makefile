# The two commands of the README. Both create the environment from the lock file first.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
LANDING ?= $(or $(CIF_LANDING),landing)
DEMO_CUSTOMERS ?= 2000
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test test-spark setup lint clean browser

## make run: set up, generate demo data if the landing zone is empty, run the nightly job
run: $(STAMP)
	@if [ -z "$$(ls -A $(LANDING) 2>/dev/null)" ]; then \
		echo "==> Landing zone $(LANDING) is empty: generating demo data ($(DEMO_CUSTOMERS) customers)"; \
		$(BIN)/cif generate --out $(LANDING) --customers $(DEMO_CUSTOMERS); \
	fi
	@echo "==> Running the nightly job"
	$(BIN)/cif run --landing $(LANDING)

## make test: set up, lint, run the whole test suite (two workers, one test file each at a time)
test: $(STAMP) lint browser
	@echo "==> Running the test suite"
	$(BIN)/pytest -n 2 --dist loadfile

## make test-spark: the Spark engine (extra `spark`: pyspark, dbt-spark) against DuckDB, same marts
test-spark: $(STAMP)
	$(BIN)/python -m pip install --quiet --constraint requirements.lock --editable '.[dev,spark]'
	$(BIN)/pytest tests/test_engine_parity.py

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
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --constraint requirements.lock --editable '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs .pytest_cache .ruff_cache
