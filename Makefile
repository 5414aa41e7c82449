# Two commands matter: `make run` (serve everything locally) and `make test` (run the whole suite).
# Both create the project's virtualenv on Python 3.13 (the Lambda runtime) when it is missing or stale.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYENV_ROOT ?= $(HOME)/.pyenv
# The first interpreter that really is 3.13: pyenv's install first (its shim fails when 3.13 is not selected),
# then whatever PATH offers.
PYTHON313 ?= $(shell for p in $(PYENV_ROOT)/versions/3.13*/bin/python3.13 "$$(command -v python3.13)" \
	/usr/local/bin/python3.13 /usr/bin/python3.13; do [ -x "$$p" ] && "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13)' \
	2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
# sam build looks for `python3.13` on PATH.
SAM_PATH := $(dir $(PYTHON313)):$(PATH)
STACK ?= salesforce-integration-edge
export SAM_CLI_TELEMETRY := 0

.PHONY: help run test lint validate build deploy deploy-guided deploy-check bench mutate redrive soak sync events openapi tables backfill invoke clean check-python lock salesforce salesforce-secrets

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

check-python:
	@[ -n "$(PYTHON313)" ] || { echo "No Python 3.13 found (tried pyenv's $(PYENV_ROOT)/versions/3.13*, then PATH). Install one, e.g. 'pyenv install 3.13', or set PYTHON313=/path/to/python3.13." >&2; exit 1; }
	@"$(PYTHON313)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null || { echo "PYTHON313=$(PYTHON313) is not Python 3.13 ($$("$(PYTHON313)" -V 2>&1 | head -1)): the Lambda runtime is 3.13, so the virtualenv must be too." >&2; exit 1; }

$(VENV)/.installed: requirements-dev.txt | check-python
	@[ -x $(PY) ] || { echo "==> creating $(VENV) with $(PYTHON313)"; $(PYTHON313) -m venv $(VENV); }
	@echo "==> installing requirements-dev.txt into $(VENV) (the first time takes a few minutes; each package is listed as it comes)"
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --disable-pip-version-check --progress-bar off -r requirements-dev.txt \
		| grep --line-buffered -E '^(Collecting|Successfully installed|ERROR)' | sed -u 's/^/    /' ; \
		exit $${PIPESTATUS[0]}
	@touch $@

$(SAM_VENV)/.installed: | check-python
	@[ -x $(SAM_VENV)/bin/python ] || $(PYTHON313) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check aws-sam-cli==1.170.0
	@touch $@

run: $(VENV)/.installed  ## serve every endpoint on http://127.0.0.1:3000 over an embedded moto (PORT, MOTO_PORT, WORKER=0)
	$(PY) -m local_runtime

# The Lightning web component's linters (Salesforce's LWC ESLint configuration), pinned by salesforce/package-lock.json;
# installed when npm is on this machine (without it, that one test says it is skipped and why).
LWC_LINT := $(if $(shell command -v npm 2>/dev/null),salesforce/node_modules/.installed)
salesforce/node_modules/.installed: salesforce/package-lock.json
	@echo "==> installing the LWC linters into salesforce/node_modules (npm ci)"
	@cd salesforce && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

test: $(VENV)/.installed $(LWC_LINT)  ## run the whole test suite
	$(PY) -m pytest

salesforce: $(VENV)/.installed  ## render the Salesforce project: salesforce/ for make run, or build/salesforce/<STACK>/ with STACK=
	$(PY) -m salesforce_project $(if $(filter command line environment,$(origin STACK)),--stack $(STACK))

salesforce-secrets: $(VENV)/.installed  ## after the Salesforce deploy: put the stack's secrets into its credentials (STACK, ORG=<sf alias>)
	$(PY) -m salesforce_project.credentials --stack $(STACK) $(if $(ORG),--org $(ORG))

lint: $(VENV)/.installed  ## ruff and mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

bench: $(VENV)/.installed  ## benchmarks; writes bench/results.md
	$(PY) -m bench

sync: $(VENV)/.installed  ## one bulk sync of every declared object now, on `make run`'s local AWS (OBJECTS=Account, MOTO_PORT)
	$(PY) -m local_runtime.sync

# The lock files: every package pinned with its hashes (pip then checks each file it installs). The layers' are
# resolved for Lambda (Python 3.13, arm64); the development one for any platform. Edit the .in files, then lock.
UV := $(VENV)/bin/uv
UV_COMPILE := $(UV) pip compile --quiet --generate-hashes --python-version 3.13 --annotation-style line \
	--custom-compile-command "make lock"
lock: $(VENV)/.installed  ## write the lock files (requirements*.txt, with hashes) from the requirements*.in files
	$(UV_COMPILE) --python-platform aarch64-manylinux2014 layers/sf_edge/requirements.in -o layers/sf_edge/requirements.txt
	$(UV_COMPILE) --python-platform aarch64-manylinux2014 layers/tracing/requirements.in \
		-c layers/sf_edge/requirements.txt -o layers/tracing/requirements.txt
	$(UV_COMPILE) --universal requirements-dev.in -o requirements-dev.txt

backfill: $(VENV)/.installed  ## rebuild the OData index of one entity set (SET=Orders; all without SET) on `make run`'s local AWS
	$(PY) -m local_runtime.backfill

redrive: $(VENV)/.installed  ## move the dead-letter queue back to the queue on `make run`'s local AWS (MOTO_PORT)
	$(PY) -m local_runtime.redrive

mutate: $(VENV)/.installed  ## mutation testing of the guarantee modules (MODULES=soap,auth; MUTATE_LIMIT=50); writes mutation/results.md
	$(PY) -m mutation

events: $(VENV)/.installed  ## regenerate events/ from events/samples/
	$(PY) events/build_events.py

tables: $(VENV)/.installed  ## print the entity tables as sf_edge/odata/schema.py declares them (for template.yaml)
	@PYTHONPATH=layers/sf_edge $(PY) -c 'import yaml; from sf_edge.odata.schema import ENTITY_SETS; \
	  print(yaml.safe_dump({s.name: s.dynamodb_table() for s in ENTITY_SETS}, sort_keys=False))'

openapi: $(VENV)/.installed  ## write openapi/callouts.json (OpenAPI 3.0, for External Services)
	$(PY) openapi/generate.py

invoke: build  ## sam local invoke (Docker) the listener with EVENT=events/outbound_listener/opportunity_valid.json
	PATH="$(SAM_PATH)" $(SAM) local invoke OutboundListenerFunction --env-vars events/env.json \
		--event $(or $(EVENT),events/outbound_listener/opportunity_valid.json)

soak: $(VENV)/.installed  ## Salesforce-like deliveries with faults against the local stack (minutes, loopback)
	$(PY) -m soak

validate: $(SAM_VENV)/.installed  ## sam validate --lint, and cfn-lint on the hub's target templates
	PATH="$(SAM_PATH)" $(SAM) validate --lint
	$(SAM_VENV)/bin/cfn-lint hub/*.yaml

build: $(SAM_VENV)/.installed  ## sam build (no Docker; cached: only what changed is built again)
	PATH="$(SAM_PATH)" $(SAM) build

deploy-check:
	@[ -n "$(ALLOWED_ORG_IDS)" ] || { echo "make deploy needs ALLOWED_ORG_IDS=<your org ids, comma-separated> (Setup -> Company Information); other parameters as PARAMS=\"CalloutAuth=ApiKey ...\"" >&2; exit 2; }

deploy: deploy-check build  ## sam deploy with samconfig.toml (ALLOWED_ORG_IDS=00D..., PARAMS="Name=value ...", STACK)
	PATH="$(SAM_PATH)" $(SAM) deploy --stack-name $(STACK) \
		--parameter-overrides AllowedOrgIds=$(ALLOWED_ORG_IDS) $(PARAMS)

deploy-guided: build  ## sam deploy --guided (asks every parameter; answer y to the "no authentication" prompts: see samconfig.toml)
	@# Its answers go to samconfig.local.toml (git-ignored), not over the shipped defaults.
	@[ -f samconfig.local.toml ] || cp samconfig.toml samconfig.local.toml
	PATH="$(SAM_PATH)" $(SAM) deploy --guided --stack-name $(STACK) --config-file samconfig.local.toml

clean:  ## remove virtualenvs and build output
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
