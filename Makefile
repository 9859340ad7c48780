# Both targets set up .venv on a fresh machine, then run.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKDIR ?= runs/default
CONFIG ?= experiments/configs/vae.py:conv

.PHONY: train test test-fast test-real-size test-scale faults bench install clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(BIN)/python -m experiments.main --config=$(CONFIG) --workdir=$(WORKDIR)
	$(BIN)/python -m experiments.evaluate --workdir=$(WORKDIR) > /dev/null
	@echo "report: $(WORKDIR)/report.md  (metrics: $(WORKDIR)/eval.json)"

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not real_size and not scale" tests

# The large GANs' real-data configs (cifar10, imagenet64) built, compiled and run for one
# step at full size on mock data: 1.5-4 minutes of compiling, kept out of `make test`'s 10.
test-real-size: $(STAMP)
	$(BIN)/python -m pytest -q -m real_size tests

# Scale-out end to end: 8 simulated devices against 1, two processes joined through
# jax.distributed against one, sweeps killed and resumed (each its own processes).
test-scale: $(STAMP)
	$(BIN)/python -m pytest -q -m scale tests

# Unit tests only: everything but the `slow` end-to-end runs (≤ 2 minutes), one
# pytest-xdist worker per core. `make test` stays one process: its conftest already runs
# the entry-point commands in the background, next to the in-process tests.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not slow" tests

# Fault injection: 20 trials per family (AE, VAE, GAN), each five SIGKILLs at random
# points and resumes, compared bit for bit with an uninterrupted run (tests/fault_injection.py).
faults: $(STAMP)
	$(BIN)/python tests/fault_injection.py --trials=20

# Speed of every image config of README's table (experiments.benchmark, one process
# each, one after another; ~25 minutes here): rewrites README's speed table and
# docs/bench.jsonl. Run it on an idle machine. `pip install torch==2.13.0` first for
# `python -m experiments.benchmark --config=... --vs_torch`, which make bench skips.
bench: $(STAMP)
	$(BIN)/python -m experiments.bench_table

clean:
	rm -rf $(VENV) runs
