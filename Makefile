# Developer entry points. `make test` and `make rehearse` set everything up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export SAM_CLI_TELEMETRY := 0
export AWS_EC2_METADATA_DISABLED := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

PY313 := $(shell bin/find-python313)
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
CHECKOV := $(CHECKOV_VENV)/bin/checkov
# sam build looks for `python3.13` on PATH: put the interpreter we found first.
SAM_PATH := $(dir $(PY313)):$(PATH)
PARTITION ?= dev

.PHONY: help setup test unit integration lint typecheck validate checkov build build-corporate rehearse bench drift ci lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(VENV)/.stamp: requirements/dev.txt layers/shared/requirements.txt pyproject.toml
	@test -n "$(PY313)" || { echo "no Python 3.13 interpreter found" >&2; exit 1; }
	$(PY313) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements/dev.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

$(SAM_VENV)/.stamp: requirements/sam.txt
	$(PY313) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q -r requirements/sam.txt
	touch $@

$(CHECKOV_VENV)/.stamp: requirements/checkov.txt
	$(PY313) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q -r requirements/checkov.txt
	touch $@

setup: $(VENV)/.stamp $(SAM_VENV)/.stamp $(CHECKOV_VENV)/.stamp ## create the three virtual environments (dev, SAM CLI, checkov)

test: $(VENV)/.stamp $(SAM_VENV)/.stamp ## run every test (unit + integration) with moto and the Postmark emulator on loopback
	$(PY) -m pytest

unit: $(VENV)/.stamp ## unit tests only
	$(PY) -m pytest tests/unit

integration: $(VENV)/.stamp $(SAM_VENV)/.stamp ## integration tests only
	$(PY) -m pytest tests/integration

lint: $(VENV)/.stamp ## ruff, mypy (strict on the shared layer), actionlint and shellcheck
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy layers/shared/arda_mail ops functions
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/actionlint
	$(VENV)/bin/shellcheck bin/deploy bin/find-python313 .ci/run .github/actions/drift-report-issue/report-issue.sh

validate: $(VENV)/.stamp $(SAM_VENV)/.stamp ## cfn-lint and sam validate --lint on every template (partition, root, corporate, tenant)
	$(VENV)/bin/cfn-lint template.yaml root/template.yaml
	$(SAM) validate --lint --template-file template.yaml
	$(SAM) validate --lint --template-file root/template.yaml
	$(VENV)/bin/cfn-lint corporate/template.yaml
	$(SAM) validate --lint --template-file corporate/template.yaml
	$(VENV)/bin/cfn-lint tenant/template.yaml
	$(SAM) validate --lint --template-file tenant/template.yaml

checkov: $(VENV)/.stamp $(CHECKOV_VENV)/.stamp ## checkov on the SAM-translated templates
	mkdir -p .aws-sam/translated
	$(PY) -m arda_ops.sam_translate template.yaml > .aws-sam/translated/template.json
	$(PY) -m arda_ops.sam_translate root/template.yaml > .aws-sam/translated/root.json
	$(PY) -m arda_ops.sam_translate corporate/template.yaml > .aws-sam/translated/corporate.json
	$(CHECKOV) --config-file .checkov.yaml -f .aws-sam/translated/corporate.json
	$(PY) -m arda_ops.sam_translate tenant/template.yaml > .aws-sam/translated/tenant.json
	$(CHECKOV) --config-file .checkov.yaml -f .aws-sam/translated/tenant.json
	$(CHECKOV) --config-file .checkov.yaml \
	  -f .aws-sam/translated/template.json -f .aws-sam/translated/root.json

build: $(SAM_VENV)/.stamp ## sam build (runtime python3.13; the shared layer compiles itself to .pyc: layers/shared/Makefile)
	PATH="$(SAM_PATH)" $(SAM) build --parallel

build-corporate: $(SAM_VENV)/.stamp ## sam build of corporate/template.yaml into .aws-sam/build-corporate (samconfig env corporate)
	PATH="$(SAM_PATH)" $(SAM) build --config-file "$(CURDIR)/samconfig.toml" --config-env corporate

rehearse: $(VENV)/.stamp ## the offline rehearsal of a stack's whole lifecycle (PARTITION=dev, or corporate; ARGS=--json)
	$(PY) -m arda_ops.rehearsal.cli --partition $(PARTITION) $(ARGS)

bench: $(VENV)/.stamp build ## cold imports, artifact sizes, API calls per operation, drift timings
	$(PY) -m arda_ops.bench

ci: setup lint validate checkov build test rehearse ## everything CI runs

lock: $(VENV)/.stamp ## refreeze requirements/dev.txt from requirements/dev.in
	$(VENV)/bin/pip freeze --exclude-editable | sed '1i # Frozen from requirements/dev.in with Python 3.13 (pip freeze). Regenerate with `make lock`.' > requirements/dev.txt

clean: ## remove build output and virtual environments
	rm -rf .aws-sam $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache
