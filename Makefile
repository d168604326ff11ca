# Developer shortcuts; README.md gives the canonical commands.
VENV ?= .venv
PYTHON ?= python3

.PHONY: venv run test clean

$(VENV)/bin/twistd: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --upgrade pip
	$(VENV)/bin/pip install '.[test]'
	touch $@

venv: $(VENV)/bin/twistd

run: venv
	$(VENV)/bin/twistd -n harper --config conf/harper.yaml

test: venv
	$(VENV)/bin/python -m twisted.trial tests

clean:
	rm -rf $(VENV) build *.egg-info _trial_temp var
