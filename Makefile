# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench deb clean screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/selfdata demo --home .demo

test: $(STAMP)
	sh tests/install-chromium.sh
	$(BIN)/python -m pytest -n auto -q

# The pictures in docs/dashboard.md, taken by the browser test from the demo.
screenshots: $(STAMP)
	sh tests/install-chromium.sh
	SELFDATA_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/test_dashboard_browser.py

bench: $(STAMP)
	$(BIN)/python -m bench all

deb:
	bash packaging/build-deb.sh --arch all --out dist

clean:
	rm -rf $(VENV) .demo
