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
# the demo service's state, all under data/: keys, feature store, intervention log, session secret
APP_ENV = MOOC_RISK_KEYS_FILE=data/keys.yaml MOOC_RISK_STORE=data/store \
  MOOC_RISK_DB_URL=sqlite:///data/journal.db MOOC_RISK_SESSION_SECRET_FILE=data/session_secret \
  MOOC_RISK_HISTORY=data/history MOOC_RISK_NOW=$(APP_NOW)
# "today" for the demo app: 14 days into the latest run of C001 (the synthetic runs are in 2024)
APP_NOW = $(shell test -f $(DATA)/enrolments.parquet && $(BIN)/python -c "import pandas as pd; \
  e = pd.read_parquet('$(DATA)/enrolments.parquet'); c = e[e.course_id == 'C001']; \
  print((c.course_start.max() + pd.Timedelta(days=14)).isoformat())")

# the nights `make checks` refreshes: days 7, 10 and 14 of C001's latest run (the last is APP_NOW's)
NIGHTS = $(shell test -f $(DATA)/enrolments.parquet && $(BIN)/python -c "import pandas as pd; \
  e = pd.read_parquet('$(DATA)/enrolments.parquet'); s = e[e.course_id == 'C001'].course_start.max(); \
  print(' '.join(f'{s + pd.Timedelta(days=d):%Y-%m-%d}' for d in (7, 10, 14)))")
# the demo's course team acts on day 14 on learners at risk, 30% held out at random; the planted
# effect (+10 points of re-engagement, +5 of completion) is what `mooc-risk impact` should find
PLANT ?= --plant-reengage 0.10 --plant-complete 0.05 --holdout-share 0.3 --intervention-day 14

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
	$(BIN)/mooc-risk generate --learners $(LEARNERS) --courses $(COURSES) --seed $(SEED) $(PLANT) --out $(DATA)
	$(BIN)/mooc-risk survey-report --data $(DATA)
	$(BIN)/mooc-risk features --data $(DATA) --as-of $(AS_OF) --out data/features.parquet
	$(BIN)/mooc-risk train --data $(DATA) --target dropout
	$(BIN)/mooc-risk train --data $(DATA) --target certification
	$(BIN)/mooc-risk models list
	$(BIN)/mooc-risk predict --data $(DATA) --all --as-of 21 --out data/predictions.parquet
	@echo "--- serving on port $(DEMO_PORT); asking for the riskiest learners of C001 with a key"
	@key=$$($(APP_ENV) $(BIN)/mooc-risk keys add --course C001 --label "demo: C001 team" | awk '{print $$NF}'); \
	echo "$$key" > data/demo-key.txt; chmod 600 data/demo-key.txt; \
	$(APP_ENV) $(BIN)/mooc-risk serve --data $(DATA) --port $(DEMO_PORT) > data/serve.log 2>&1 & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null; echo "--- service stopped"; \
	  echo "--- the course-team app: run \`make app\`, open http://127.0.0.1:$(DEMO_PORT)/app/courses/C001"; \
	  echo "    and sign in with the key $$key (kept in data/demo-key.txt)"' EXIT; \
	$(BIN)/mooc-risk ask --url http://127.0.0.1:$(DEMO_PORT) --key $$key --course C001 \
	  --as-of 14 --top 5 --wait 120

app: $(STAMP) ## serve the demo (after `make demo`) with the course-team app at /app, until Ctrl-C
	@test -f data/demo-key.txt || { echo "run \`make demo\` first"; exit 2; }
	@echo "--- open http://127.0.0.1:$(DEMO_PORT)/app/courses/C001 and sign in with $$(cat data/demo-key.txt)"
	@echo "    (today is $(APP_NOW) for the demo: day 14 of C001's latest run; Ctrl-C stops)"
	$(APP_ENV) $(BIN)/mooc-risk serve --data $(DATA) --port $(DEMO_PORT)

checks: $(STAMP) ## after `make demo`: nightly refreshes, then `monitor` and `impact` on the demo data (reports in data/reports)
	@test -f data/demo-key.txt || { echo "run \`make demo\` first"; exit 2; }
	@for night in $(NIGHTS); do $(APP_ENV) $(BIN)/mooc-risk refresh --data $(DATA) --date $$night || exit $$?; done
	$(APP_ENV) $(BIN)/mooc-risk monitor --data $(DATA) --date $(lastword $(NIGHTS)) --out data/reports/monitor; \
	  code=$$?; test $$code -eq 0 -o $$code -eq 3  # 3: a retrain rule fired (the report says which)
	$(APP_ENV) $(BIN)/mooc-risk impact --data $(DATA) --out data/reports/impact
	@echo "--- open data/reports/monitor/index.html and data/reports/impact/index.html"

checks-images: checks ## the README's "Is it working?" plots, from `make checks` on the demo data
	mkdir -p docs/img
	cp data/reports/monitor/scores-dropout.png docs/img/monitor-scores-dropout.png
	cp data/reports/monitor/auc-dropout.png docs/img/monitor-auc-dropout.png
	cp data/reports/impact/effects.png docs/img/impact-effects.png

screenshots: $(STAMP) ## the README's screenshots of the app, taken by the browser test on the demo data
	@test -f data/demo-key.txt || { echo "run \`make demo\` first"; exit 2; }
	MOOC_RISK_BROWSER_DATA=$(DATA) MOOC_RISK_SCREENSHOTS=docs/img MOOC_RISK_REQUIRE_BROWSER=1 \
	  $(BIN)/pytest tests/test_serving/test_browser.py -k walks -p no:cacheprovider -q

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

bench-dev: $(STAMP) ## the development split of bench/protocol.md (after bench-real has imported the data) → bench/development.md
	$(BIN)/python -m bench.development

bench-ingest: $(STAMP) ## benchmark importing a 5M-event Open edX tracking log
	$(BIN)/python -m bench.ingest

bench-refresh: $(STAMP) ## benchmark the nightly refresh (10^7 and 10^8 historical events + one new day)
	$(BIN)/python -m bench.refresh

bench-soak: $(STAMP) ## 10 minutes of steady load on the service (loopback): errors, p50/p99, RSS, throughput
	$(BIN)/python -m bench.soak

bench-throughput: $(STAMP) ## /score against the framework's floor at 8 clients (loopback), access log on and off
	$(BIN)/python -m bench.throughput

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


.PHONY: help install demo app checks checks-images screenshots test test-fast wheel-check lint bench-features bench-serving bench-real bench-dev bench-ingest bench-refresh bench-soak bench-throughput lock clean
