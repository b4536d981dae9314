# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The distribution's own Python (Debian 12 and Pi OS Bookworm: 3.11.2), which the .deb
# builds its virtualenv from: `make test` runs the suite on it too when it differs from
# $(VENV)'s. SYSTEM_PYTHON= skips that.
SYSTEM_PYTHON ?= /usr/bin/python3
SYSTEM_VENV := .venv-system
# Not about the interpreter: lint and type checks, the .deb build (it has its own Python), and
# Home Assistant's own virtualenv (built once, by the first run's Python, and shared).
SYSTEM_SKIP := --ignore=tests/test_quality.py --ignore=tests/test_packaging.py --ignore=tests/bridges/test_homeassistant.py

.PHONY: demo test test-system bench deb clean screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/selfdata demo --home .demo

test: $(STAMP)
	sh tests/install-tools.sh
	$(BIN)/python -m pytest -n auto -q
	@if [ -n "$(SYSTEM_PYTHON)" ] && [ -x "$(SYSTEM_PYTHON)" ] && \
	  [ "$$($(SYSTEM_PYTHON) -c 'import platform; print(platform.python_version())')" != \
	    "$$($(BIN)/python -c 'import platform; print(platform.python_version())')" ]; then \
	  $(MAKE) --no-print-directory test-system; fi

$(SYSTEM_VENV)/.installed: pyproject.toml
	@$(SYSTEM_PYTHON) -c 'import ensurepip' 2>/dev/null || { echo "$(SYSTEM_PYTHON) cannot make a virtualenv:" \
	  "install python3-venv, or skip this Python with make test SYSTEM_PYTHON="; exit 1; }
	$(SYSTEM_PYTHON) -m venv $(SYSTEM_VENV)
	$(SYSTEM_VENV)/bin/pip install --quiet --upgrade pip
	$(SYSTEM_VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

test-system: $(SYSTEM_VENV)/.installed
	@echo "the suite on $(SYSTEM_PYTHON) ($$($(SYSTEM_VENV)/bin/python -c 'import platform; print(platform.python_version())'))"
	$(SYSTEM_VENV)/bin/python -m pytest -n auto -q $(SYSTEM_SKIP)

# The pictures in docs/dashboard.md, taken by the browser test from the demo.
screenshots: $(STAMP)
	sh tests/install-tools.sh
	SELFDATA_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/test_dashboard_browser.py

bench: $(STAMP)
	$(BIN)/python -m bench all

deb:
	bash packaging/build-deb.sh --arch all --out dist

clean:
	rm -rf $(VENV) $(SYSTEM_VENV) .demo
