# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
# pip extras of the venv (audio: the demo runs align and locate too); CI sets test,train,lint,midi,audio
EXTRAS ?= test,audio
# extra pip options, e.g. --extra-index-url https://download.pytorch.org/whl/cpu (torch's CPU wheel)
PIP_ARGS ?=
STAMP   = $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
comma  := ,

.PHONY: demo test lint install clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PIP_ARGS) -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py --out out

test: $(STAMP)
	$(PY) -m pytest -q

# ruff (pyproject.toml's rules) on the installed packages, mypy --strict on the runtime; needs EXTRAS with lint
lint: $(STAMP)
	$(VENV)/bin/ruff check symbolic_ai bridges exports
	$(VENV)/bin/mypy

clean:
	rm -rf out build *.egg-info .pytest_cache
