# The front door. Every target sets up .venv (pinned dependencies) first when needed.
# Each target works in one folder: datasets/, reference/, assignment/, grader/, tests/.
# HOMEWORK=<id> picks the homework (python -m grader homeworks lists them; default vae).

SHELL := /bin/bash
# Debian's python3 (not a pyenv one under /root): the sandboxed worker user must be able to read the venv.
BASE_PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-tools
HOMEWORK ?= vae
SUBMISSION ?=
SUBMISSIONS ?=
PYTEST_ARGS ?=
BATCH_FLAGS ?=
TIME_LIMIT ?=
# Almost-right variants of the homework's mutants.toml that make calibrate trains once each and places against the
# band (for the flagship; PLACEMENTS= for none).
PLACEMENTS ?= $(if $(filter vae,$(HOMEWORK)),train_kl_annealing_reversed bound_kl_warm_up bound_kl_free_bits \
	bound_kl_clipped bound_logits_clamped bound_nelbo_half_kl,)

.PHONY: help venv test lint homeworks train data assignment handout bench grade autograder report calibrate clean

help:
	@echo "Every target takes HOMEWORK=<id> (default vae); make homeworks lists them."
	@echo "make test        the whole test suite, every homework (creates .venv first)"
	@echo "make homeworks   the homeworks: id, title, files, points"
	@echo "make train       the homework's reference run: runs/<id>/{metrics.json,samples.png,weights.pt}"
	@echo "make data        rebuild datasets/mnist.npz and verify it against the official MD5s"
	@echo "make assignment  regenerate every homework's starter assignment/<id>/ from reference/"
	@echo "make handout     dist/handout-<id>.zip for students"
	@echo "make bench       training-step and memory benchmark; the reference graded at full speed and as on"
	@echo "                 Gradescope (½ CPU, 768 MB, in a cgroup: needs root)"
	@echo "make grade [SUBMISSION=path]   grade a submission (default: the homework's reference) into results/"
	@echo "make autograder [TIME_LIMIT=s] dist/autograder-<id>.zip for Gradescope (default: the homework's limit)"
	@echo "make report SUBMISSIONS=path [BATCH_FLAGS=...]  batch-grade a folder or Gradescope export into reports/"
	@echo "make calibrate   grade the reference over 20 seeds at 1 and 2 threads, place almost-right variants;"
	@echo "                 writes the homework's calibration.json and .png (resumes; about 80 min on 2 cores)"

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

homeworks: $(STAMP)
	$(PY) -m grader homeworks

train: $(STAMP)
	$(PY) -m grader.instructor.run_reference --homework $(HOMEWORK) -- --out $(CURDIR)/runs/$(HOMEWORK)

data: $(STAMP)
	$(PY) datasets/build_mnist.py

assignment: $(STAMP)
	$(PY) -m grader.instructor.build assignment

handout: $(STAMP)
	$(PY) -m grader.instructor.build handout --homework $(HOMEWORK)

bench: $(STAMP)
	$(PY) -m grader.instructor.bench
	$(PY) -m grader.instructor.bench_gradescope --homework $(HOMEWORK)

grade: $(STAMP)
	$(if $(SUBMISSION),,$(PY) -m grader.instructor.build submission --homework $(HOMEWORK) --out build/submission/$(HOMEWORK))
	$(PY) -m grader grade $(or $(SUBMISSION),build/submission/$(HOMEWORK)) --homework $(HOMEWORK) --out results

autograder: $(STAMP)
	$(PY) -m grader.instructor.build autograder --homework $(HOMEWORK) $(if $(TIME_LIMIT),--time-limit $(TIME_LIMIT),)

report: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make report SUBMISSIONS=path/to/export-or-folder"; exit 2; }
	$(PY) -m grader batch $(SUBMISSIONS) --homework $(HOMEWORK) --out reports $(BATCH_FLAGS)

calibrate: $(STAMP)
	$(PY) -m grader.instructor.calibrate --homework $(HOMEWORK) $(if $(strip $(PLACEMENTS)),--place $(PLACEMENTS),)

clean:
	rm -rf dist results reports runs .pytest_cache
