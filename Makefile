# Ouroboros: `make demo` and `make test` build .venv on first use.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench validate clean

# Find a Python >= 3.12: plain python3.12/3.13 first, then pyenv with PYENV_VERSION.
define find_python
for c in python3.12 python3.13; do \
  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then echo $$c; exit 0; fi; \
done; \
if command -v pyenv >/dev/null 2>&1; then \
  for v in $$(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9])' | sort -V); do \
    p=$$(PYENV_VERSION=$$v pyenv which python3 2>/dev/null) && [ -x "$$p" ] && echo $$p && exit 0; \
  done; \
fi; \
exit 1
endef

$(STAMP): pyproject.toml constraints.txt
	@PYBIN=$$($(find_python)) || { echo "error: Ouroboros needs Python >= 3.12 (none found as python3.12, python3.13 or via pyenv)" >&2; exit 2; }; \
	echo "Creating $(VENV) with $$PYBIN"; \
	[ -x $(PY) ] || $$PYBIN -m venv $(VENV); \
	$(PY) -m pip install --quiet --upgrade pip && \
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]' && touch $(STAMP)

# The demo's sweep: all five filtering policies × six AI shares, 2 replications, 24 steps.
DEMO_SWEEP := --out runs/demo --workers 2 --set steps=24 --set replications=2

demo: $(STAMP)
	$(VENV)/bin/ouroboros run scenarios/baseline.yaml
	$(VENV)/bin/ouroboros sweep scenarios/ai_share_sweep.yaml $(DEMO_SWEEP)
	$(VENV)/bin/ouroboros report "$$(ls -td runs/demo/ai_share_sweep-* | head -1)"

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -n 2

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

validate: $(STAMP)
	$(VENV)/bin/ouroboros validate

# Simulator against the bare kernel (steps and whole runs, cost curve), the demo sweep on 1 and
# 2 workers (the faster of two each: one sweep moved 1.70-1.83x from call to call), then issue
# 16's targets against what was just measured. The sources' bytecode is compiled first, as an
# install compiles it (where PYTHONDONTWRITEBYTECODE is set, no run would write it: each
# `ouroboros` process would compile its modules again, 0.04 s).
bench: $(STAMP)
	$(PY) -m compileall -q simulation
	$(PY) benchmarks/run.py
	$(PY) benchmarks/sweep.py --repeat 2
	$(PY) benchmarks/summary.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
