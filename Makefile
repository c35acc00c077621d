# Two commands matter (see README.md): `make demo` and `make test`. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
# llama.cpp's OpenMP threads spin while waiting unless told otherwise; with two model processes on two
# cores that turns a 0.3 s call into seconds. PASSIVE alone sleeps at every sync (3.5x slower); a short
# spin first keeps the speed. Every process we start inherits both.
export OMP_WAIT_POLICY ?= PASSIVE
export GOMP_SPINCOUNT ?= 100000

# With DEBUG off, the settings refuse to start without a SECRET_KEY. On this machine the commands below use a
# random key made once for this checkout, in var/secret-key; a SECRET_KEY in the environment or .env wins.
LOCAL_KEY := var/secret-key
export SECRET_KEY_FILE ?= $(CURDIR)/$(LOCAL_KEY)

.PHONY: install demo test serve worker chromium

$(LOCAL_KEY):
	mkdir -p $(@D)
	umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

$(VENV)/.installed: requirements.txt clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet -e ./clients/python  # the applications' client: its tests run against the server
	touch $@

install: $(VENV)/.installed

demo: install $(LOCAL_KEY)
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py setup_demo
	@echo "Optimizing the demo prompt on sports_understanding with the embedded model (about 10 minutes);"
	@echo "the result is compared with the start and with always giving the train split's most common answer..."
	$(PY) manage.py optimize --team "Demo team" --dataset sports_understanding --prompt "Sports judge"
	@echo "Serving on http://127.0.0.1:8000/ with a background worker for runs (Ctrl-C stops both)"
	$(PY) manage.py worker & worker=$$!; trap 'kill $$worker' EXIT INT TERM; \
	$(PY) manage.py runserver --noreload 127.0.0.1:8000

# The browser tests (tests/browser/) launch Debian's chromium; Playwright cannot download its own browser here.
chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

test: install chromium $(LOCAL_KEY)
	$(VENV)/bin/ruff check .
	$(PY) manage.py check --fail-level WARNING
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/pytest

serve: install $(LOCAL_KEY)
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py runserver 127.0.0.1:8000

worker: install $(LOCAL_KEY)
	$(PY) manage.py worker
