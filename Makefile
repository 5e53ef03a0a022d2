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

.PHONY: run test install install-test system-test-deps demo lint bench clean

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
$(DEMO)/workspace.gpkg: $(wildcard townmap/demo/*.py) $(wildcard layers/*.toml) | $(VENV)/.installed
	$(BIN)/townmap demo --out $(DEMO) --force

demo: $(DEMO)/workspace.gpkg

run: $(VENV)/.installed $(DEMO)/workspace.gpkg
	@echo "Townmap: open http://localhost:$(PORT) in a browser (Ctrl+C stops it)"
	$(BIN)/streamlit run app.py --server.port $(PORT)

# Debian packages for the browser test and for Chinese glyphs in screenshots.
system-test-deps:
	@if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qiE 'wqy|noto.*cjk'; then \
		echo "chromium and a CJK font are installed"; \
	else \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium fonts-wqy-microhei; \
	fi

test: $(VENV)/.installed-test system-test-deps
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check townmap tests app.py
	$(BIN)/ruff format --check townmap tests app.py

clean:
	rm -rf $(VENV) $(DEMO) tests/artifacts

# Benchmarks (county-scale map, import, conflicts, siting against spopt; the map one builds
# a 50,000-enterprise workspace once, ~1 min, in ~/.cache/townmap/bench). Not in `make test`.
bench: $(VENV)/.installed-bench system-test-deps
	$(BIN)/python -m pytest tests/benchmarks -s -o addopts="" -p no:cacheprovider
