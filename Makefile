# SmartNote developer tasks. `make run` needs only python3 and python3-venv.
PYTHON ?= python3
VENV = .venv
BIN = $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 3000
FN ?=
EVENT ?=
TOKEN ?=
# The deployment tools (SAM CLI, cfn-lint) pin versions that clash with the dev tools.
DEPLOY_VENV = .venv-deploy
DEPLOY_BIN = $(DEPLOY_VENV)/bin
ENV ?= dev

.DEFAULT_GOAL := help
.PHONY: help install run invoke test security lint bench load deploy-tools deploy-check build \
	deploy localstack-up localstack-deploy localstack-down clean clean-data

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# The stamp is rebuilt (deps reinstalled) whenever a requirements file changes.
$(VENV)/.installed: shared/requirements.txt requirements-dev.txt shared/pyproject.toml \
		functions/image/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "SmartNote needs Python 3.11+ ($(PYTHON) is $$($(PYTHON) --version 2>&1)); try make PYTHON=python3.12" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || \
		{ echo "$(PYTHON) cannot create virtual environments: sudo apt install python3-venv" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e shared -r requirements-dev.txt
	@# The image function (and its tests) run Tesseract from Debian's package.
	sh .ci/install-tesseract.sh
	touch $@

install: $(VENV)/.installed ## Create the venv and install the dependencies

run: $(VENV)/.installed ## Start the local stack (HOST=127.0.0.1 PORT=3000)
	$(BIN)/python -m smartnote.local.stack --host $(HOST) --port $(PORT)

invoke: $(VENV)/.installed ## Invoke one function: make invoke FN=notes [EVENT=tests/events/notes.json] [TOKEN=...]
	@test -n "$(FN)" || { echo "usage: make invoke FN=<function> [EVENT=<event.json>] [TOKEN=<access token>]" >&2; exit 2; }
	@$(BIN)/python -m smartnote.local.invoke $(FN) $(EVENT) $(if $(TOKEN),--token '$(TOKEN)')

test: $(VENV)/.installed ## Run the tests
	$(BIN)/python -m pytest

# The security suite with the full fuzzing run: >= 2000 schemathesis cases (FUZZ_EXAMPLES per
# operation and mode), counts written to .local/security/fuzz.json for docs/SECURITY.md.
FUZZ_EXAMPLES ?= 100
FUZZ_MIN_CASES ?= 2000
security: $(VENV)/.installed ## Security suite with the full fuzzing run (>= 2000 cases)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_MIN_CASES=$(FUZZ_MIN_CASES) \
		FUZZ_REPORT=.local/security/fuzz.json $(BIN)/python -m pytest tests/security

lint: $(VENV)/.installed ## ruff (lint and format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared/

$(DEPLOY_VENV)/.installed: requirements-deploy.txt
	test -x $(DEPLOY_BIN)/python || $(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_BIN)/python -m pip install --quiet --upgrade pip
	$(DEPLOY_BIN)/python -m pip install --quiet -r requirements-deploy.txt
	touch $@

deploy-tools: $(DEPLOY_VENV)/.installed ## Install SAM CLI, cfn-lint, samlocal in .venv-deploy

deploy-check: $(VENV)/.installed $(DEPLOY_VENV)/.installed ## Validate, build and smoke-test the SAM stack (no Docker, no AWS)
	DEV_PYTHON=$(BIN)/python DEPLOY_BIN=$(DEPLOY_BIN) bash deploy/check.sh

build: $(DEPLOY_VENV)/.installed ## sam build of the whole stack (image functions need Docker), with .pyc
	bash deploy/build.sh $(DEPLOY_BIN)/sam

deploy: build ## Deploy to AWS: make deploy ENV=dev|prod (see docs/deploying.md)
	$(DEPLOY_BIN)/sam deploy --config-env $(ENV)

localstack-up: ## Start LocalStack, MongoDB and Postgres (Docker; see localstack/README.md)
	docker compose -f localstack/docker-compose.yml up -d --wait

localstack-deploy: $(DEPLOY_VENV)/.installed ## Build and deploy the stack into LocalStack (Docker)
	bash deploy/build.sh $(DEPLOY_BIN)/samlocal
	$(DEPLOY_BIN)/samlocal deploy --config-env localstack

localstack-down: ## Stop LocalStack, MongoDB and Postgres and drop their data
	docker compose -f localstack/docker-compose.yml down -v

$(VENV)/.bench-installed: $(VENV)/.installed requirements-bench.txt
	$(BIN)/python -m pip install --quiet -r requirements-bench.txt
	touch $@

bench: $(VENV)/.bench-installed ## Benchmarks side by side: table, bench/results/latest.json + plots
	$(BIN)/python -m bench.run

load: $(VENV)/.bench-installed ## Locust load test: gateway vs uvicorn, loadtests/results/
	$(BIN)/python -m loadtests.run

clean: ## Remove caches and build output (keeps .venv and the local data in .local/)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .aws-sam build dist shared/build .bench-layer
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name '*.egg-info' \) -type d -print \
		| xargs rm -rf

# A running stack holds .local/stack.lock (flock); its stack.json alone may be a killed one's.
LOCK_IS_FREE = $(PYTHON) -c 'import fcntl, sys; fcntl.flock(open(sys.argv[1]), fcntl.LOCK_SH | fcntl.LOCK_NB)'
clean-data: ## Delete the local stack's data (.local/): Mongo, SQLite, JWT secret
	@if [ -f .local/stack.lock ] && ! $(LOCK_IS_FREE) .local/stack.lock 2>/dev/null; then \
		echo "the local stack is running; stop it first" >&2; exit 1; fi
	rm -rf .local
