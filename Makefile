# Developer shortcuts; README.md gives the canonical commands.
VENV ?= .venv
PYTHON ?= python3

.PHONY: venv run test bench clean

$(VENV)/bin/twistd: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --upgrade pip
	$(VENV)/bin/pip install '.[test]'
	touch $@

venv: $(VENV)/bin/twistd

run: venv
	$(VENV)/bin/twistd -n harper --config conf/harper.yaml

# The RelStorage tests need PostgreSQL: .ci/postgres.sh installs it (Debian package, as root)
# when missing and runs a private cluster for the length of the run. The MQTT tests use
# Debian's mosquitto clients as independent peers.
test: venv
	@sh .ci/debian.sh mosquitto-clients
	@pgdir=$$(mktemp -d /tmp/harper-pg.XXXXXX) && \
	dsn=$$(sh .ci/postgres.sh start "$$pgdir") && \
	HARPER_TEST_POSTGRES_DSN="$$dsn" $(VENV)/bin/python -m twisted.trial tests; \
	status=$$?; sh .ci/postgres.sh stop "$$pgdir" || true; exit $$status

# Benchmarks: wrk loads the HTTP server, mosquitto is the MQTT baseline (Debian packages,
# installed as root when missing); see docs/benchmarks.md.
bench: venv
	@sh .ci/debian.sh wrk mosquitto
	$(VENV)/bin/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info _trial_temp var
