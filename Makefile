# mooc-risk — `make help` lists the targets. Every target sets up .venv from the lock when needed.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= data/synthetic
LEARNERS ?= 20000
COURSES ?= 8
SEED ?= 42
AS_OF ?= 0,7,14,28
DEMO_PORT ?= 3123
REAL_DATA ?= ../shared/data

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the pinned dependencies (requirements.lock)

demo: $(STAMP) ## the main job on synthetic data: data → features → train → register → serve → score
	$(BIN)/mooc-risk generate --learners $(LEARNERS) --courses $(COURSES) --seed $(SEED) --out $(DATA)
	$(BIN)/mooc-risk survey-report --data $(DATA)
	$(BIN)/mooc-risk features --data $(DATA) --as-of $(AS_OF) --out data/features.parquet
	$(BIN)/mooc-risk train --data $(DATA) --target dropout
	$(BIN)/mooc-risk train --data $(DATA) --target certification
	$(BIN)/mooc-risk models list
	$(BIN)/mooc-risk predict --data $(DATA) --all --as-of 21 --out data/predictions.parquet
	@echo "--- serving on port $(DEMO_PORT); asking for the riskiest learners of C001 with a key"
	@key=$$(MOOC_RISK_KEYS_FILE=data/keys.yaml $(BIN)/mooc-risk keys add --course C001 | awk '{print $$NF}'); \
	MOOC_RISK_KEYS_FILE=data/keys.yaml MOOC_RISK_STORE=data/store \
	  $(BIN)/mooc-risk serve --data $(DATA) --port $(DEMO_PORT) > data/serve.log 2>&1 & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null; echo "--- service stopped"' EXIT; \
	$(BIN)/mooc-risk ask --url http://127.0.0.1:$(DEMO_PORT) --key $$key --course C001 \
	  --as-of 14 --top 5 --wait 120

test: $(STAMP) ## run the whole test suite, as CI does (PySpark tests skip without Java/pyspark)
	$(BIN)/pytest

test-fast: $(STAMP) ## the suite without the tests marked slow (Spark parity, property test, full trains)
	$(BIN)/pytest -m "not slow"

wheel-check: $(STAMP) ## build the wheel, install it in a fresh venv, generate → train → predict outside the repo
	bash .ci/wheel-check

lint: $(STAMP) ## ruff over the code, benchmarks and tests
	$(BIN)/ruff check mooc_risk features training models serving bench tests

bench-serving: $(STAMP) ## benchmark the HTTP service and the batch scorer (loopback)
	$(BIN)/python -m bench.serving

bench-real: $(STAMP) ## evaluate on the real data sets in REAL_DATA (oulad/parquet, kddcup2015-daily, dataedu-online-science)
	$(BIN)/python -m bench.real_data --shared $(REAL_DATA)

bench-ingest: $(STAMP) ## benchmark importing a 5M-event Open edX tracking log
	$(BIN)/python -m bench.ingest

bench-features: $(STAMP) ## benchmark the feature pipeline on 10M synthetic events
	$(BIN)/python -m bench.features

lock: ## re-resolve requirements.lock from pyproject.toml in a scratch venv
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e '.[dev,spark]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock
	rm -rf .lock-venv

clean: ## remove the venv, generated data and caches (keeps mlruns/)
	rm -rf $(VENV) data .pytest_cache .hypothesis

.PHONY: help install demo test test-fast wheel-check lint bench-features bench-serving bench-real bench-ingest lock clean
