# Townmap's two commands (see README.md):
#   make run    install what the app needs and start it on the fictional demo town
#   make test   install everything the tests need (Debian's chromium included) and run them
# Everything Python goes into .venv; nothing is installed by hand.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8501
DEMO   := data/demo
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-shuffled install install-test system-run-deps system-test-deps demo lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# The demo is rebuilt when its generator changes.
$(DEMO)/workspace.gpkg: $(wildcard townmap/demo/*.py) $(wildcard townmap/layers/*.toml) | $(VENV)/.installed
	$(BIN)/townmap demo --out $(DEMO) --force

demo: $(DEMO)/workspace.gpkg

run: $(VENV)/.installed $(DEMO)/workspace.gpkg system-run-deps
	@echo "Townmap: Ctrl+C stops it"
	$(BIN)/townmap serve --workspace $(DEMO) --port $(PORT)

# Debian packages the app needs: a CJK font (Chinese in report maps and PDFs, not boxes)
# and pango for WeasyPrint's PDF. A fresh machine has neither.
RUN_DEBS  := fonts-wqy-microhei libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
# ... and for the tests: chromium (browser tests), poppler-utils (PDF pages as PNG) and
# PostgreSQL + PostGIS (the shared-workspace back end; the tests start a throw-away server).
TEST_DEBS := $(RUN_DEBS) chromium poppler-utils postgresql postgresql-postgis

system-run-deps:
	@if fc-list 2>/dev/null | grep -qiE 'wqy|noto.*cjk' && ldconfig -p | grep -q libpangoft2-1.0; then \
		echo "a CJK font and pango are installed"; \
	else \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $(RUN_DEBS); \
	fi

system-test-deps: system-run-deps
	@if command -v chromium >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1 && \
		ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then \
		echo "chromium, poppler-utils and PostGIS are installed"; \
	else \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $(TEST_DEBS); \
	fi

# TOWNMAP_TEST_POSTGIS=required: a missing PostGIS fails the run instead of skipping
test: $(VENV)/.installed-test system-test-deps
	$(BIN)/ruff check townmap tests app.py
	$(BIN)/ruff format --check townmap tests app.py
	TOWNMAP_TEST_POSTGIS=required $(BIN)/python -m pytest -p no:randomly

# The same suite in a random order (pytest-randomly; the seed is printed: rerun one order
# with `.venv/bin/python -m pytest --randomly-seed=N`).
test-shuffled: $(VENV)/.installed-test system-test-deps
	TOWNMAP_TEST_POSTGIS=required $(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check townmap tests app.py
	$(BIN)/ruff format --check townmap tests app.py

clean:
	rm -rf $(VENV) $(DEMO) tests/artifacts

# Benchmarks (county-scale map, import, conflicts, siting against spopt; the map one builds
# a 50,000-enterprise workspace once, ~1 min, in ~/.cache/townmap/bench). Not in `make test`.
bench: $(VENV)/.installed-bench system-test-deps
	$(BIN)/python -m pytest tests/benchmarks -s -o addopts="" -p no:cacheprovider
