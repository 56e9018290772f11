# Quick start: `make demo` runs the whole workflow on the built-in synthetic cohort;
# `make test` runs lint and the whole test suite. Both create .venv when it is missing.

PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: demo test lint

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade "pip>=24"
	$(VENV)/bin/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	snakemake --profile workflow/profiles/local
	snakemake --profile workflow/profiles/local --report results/report.html
	@echo "Report: results/report/summary.md (tables and figures in results/report/);"
	@echo "browsable report: results/report.html"

lint: $(STAMP)
	ruff check .
	snakemake --lint

test: lint
	pytest
