# The front door. Every target sets up .venv (pinned dependencies) first when needed.
# Each target works in one folder: datasets/, reference/, assignment/, grader/, tests/.

SHELL := /bin/bash
# Debian's python3 (not a pyenv one under /root): the sandboxed worker user must be able to read the venv.
BASE_PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-tools
SUBMISSION ?= reference
SUBMISSIONS ?=
PYTEST_ARGS ?=
TIME_LIMIT ?= 600
# Almost-right variants from tests/mutants/mutants.toml that make calibrate trains once each and places against the band.
PLACEMENTS ?= train_kl_annealing_reversed bound_kl_warm_up bound_kl_free_bits bound_kl_clipped bound_logits_clamped \
	bound_nelbo_half_kl

.PHONY: help venv test lint train data assignment handout bench grade autograder report calibrate clean

help:
	@echo "make test        the whole test suite (creates .venv first)"
	@echo "make train       20,000-iteration reference run: runs/reference/{metrics.json,samples.png}"
	@echo "make data        rebuild datasets/mnist.npz and verify it against the official MD5s"
	@echo "make assignment  regenerate assignment/ (the student starter) from reference/"
	@echo "make handout     dist/handout.zip for students"
	@echo "make bench       training-step and memory benchmark; the reference graded at full speed and as on"
	@echo "                 Gradescope (½ CPU, 768 MB, in a cgroup: needs root)"
	@echo "make grade [SUBMISSION=path]   grade a submission into results/"
	@echo "make autograder [TIME_LIMIT=600]  dist/autograder.zip for Gradescope (its autograder timeout, seconds)"
	@echo "make report SUBMISSIONS=path   batch-grade a folder or Gradescope export into reports/"
	@echo "make calibrate   grade the reference over 20 seeds at 1 and 2 threads, place almost-right variants;"
	@echo "                 writes grader/calibration.json and calibration.png (resumes; about 80 min on 2 cores)"

$(STAMP): requirements.txt
	test -x $(VENV)/bin/python || $(BASE_PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

# System tools the tests use: bubblewrap (the worker's sandbox) and chromium (the report's browser test).
# Installed with apt when running as root; elsewhere the tests that need them say what is missing.
$(SYSTEM_STAMP):
	@mkdir -p $(VENV)
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; \
	  command -v bwrap >/dev/null || missing="$$missing bubblewrap"; \
	  command -v chromium >/dev/null || missing="$$missing chromium"; \
	  if [ -n "$$missing" ]; then \
	    echo "apt-get install$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  fi; \
	fi
	touch $(SYSTEM_STAMP)

venv: $(STAMP)

test: $(STAMP) $(SYSTEM_STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .

train: $(STAMP)
	cd reference && $(PY) run_vae.py --out $(CURDIR)/runs/reference

data: $(STAMP)
	$(PY) datasets/build_mnist.py

assignment: $(STAMP)
	$(PY) -m grader.build assignment

handout: $(STAMP)
	$(PY) -m grader.build handout

bench: $(STAMP)
	$(PY) -m grader.bench
	$(PY) -m grader.bench_gradescope

grade: $(STAMP)
	$(PY) -m grader grade $(SUBMISSION) --out results

autograder: $(STAMP)
	$(PY) -m grader.build autograder --time-limit $(TIME_LIMIT)

report: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make report SUBMISSIONS=path/to/export-or-folder"; exit 2; }
	$(PY) -m grader batch $(SUBMISSIONS) --out reports

calibrate: $(STAMP)
	$(PY) -m grader.calibrate --place $(PLACEMENTS)

clean:
	rm -rf dist results reports runs .pytest_cache
