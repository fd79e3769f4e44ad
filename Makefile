# Two commands for a newcomer: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
DATA_DIR ?= $(if $(WEGENT_DATA_DIR),$(WEGENT_DATA_DIR),./data)
PORT ?= 8000
PIP_VERSION := 26.3

.PHONY: run test venv dev-venv migrate lint serve clean

$(VENV)/.runtime-installed: requirements.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "pip==$(PIP_VERSION)"
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	@touch $@

$(VENV)/.dev-installed: $(VENV)/.runtime-installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	@touch $@

venv: $(VENV)/.runtime-installed
dev-venv: $(VENV)/.dev-installed

# A secret key is made once per data dir, so tokens survive restarts and nothing is in clear in git.
$(DATA_DIR)/secret_key:
	@mkdir -p $(DATA_DIR)
	@$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@
	@chmod 600 $@

run: venv $(DATA_DIR)/secret_key
	@export WEGENT_DATA_DIR=$(DATA_DIR) WEGENT_SECRET_KEY_FILE=$${WEGENT_SECRET_KEY_FILE:-$(DATA_DIR)/secret_key}; \
	$(PY) manage.py migrate --noinput -v 0 && \
	$(PY) manage.py collectstatic --noinput -v 0 && \
	$(PY) manage.py bootstrap && \
	exec $(PY) manage.py serve --port $(PORT)

test: dev-venv
	@bash scripts/test.sh

lint: dev-venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) staticfiles
