"""docker-compose.yml against the code: no container runtime runs here, so the file's commands, variables and
health checks are checked against what the code has, and the image's commands are run outside a container."""

import ast
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

from tests.test_monitoring import TEST_REDIS, redis_is_up
from tests.test_worker import _database_url

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
IMAGE = COMPOSE["x-app"]["image"]
APP_SERVICES = {name: service for name, service in COMPOSE["services"].items() if service.get("image") == IMAGE}
BIN = Path(sys.executable).parent


def settings_variables():
    """The environment variables promptopt/settings.py reads: every call whose first argument names one."""
    tree = ast.parse((ROOT / "promptopt" / "settings.py").read_text())
    return {
        node.args[0].value for node in ast.walk(tree)
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str) and re.fullmatch(r"[A-Z][A-Z0-9_]+", node.args[0].value)
    }


def test_the_app_services_are_web_worker_migrate_and_the_optional_storage_emulator():
    assert set(APP_SERVICES) == {"migrate", "web", "worker", "storage"}
    assert [name for name, service in APP_SERVICES.items() if "build" in service] == ["migrate"]  # built once
    assert COMPOSE["services"]["storage"]["profiles"] == ["storage"]
    assert {"postgres", "redis"} <= set(COMPOSE["services"])
    assert "deploy" not in APP_SERVICES["worker"] and "container_name" not in APP_SERVICES["worker"]  # --scale


def test_every_command_exists():
    for name, service in APP_SERVICES.items():
        program, *args = service["command"]
        if program == "python":
            assert args[0] == "manage.py", name
            assert args[1] in get_commands(), f"{name}: manage.py has no command {args[1]}"
        elif program == "gunicorn":
            config = ROOT / args[args.index("-c") + 1]
            assert config.is_file(), name
            module, app = re.search(r'wsgi_app = "(.+):(.+)"', config.read_text()).groups()
            assert callable(getattr(__import__(module, fromlist=[app]), app)), name
        else:
            assert (BIN / program).is_file(), f"{name}: {program} is not installed by requirements.txt"


def test_every_variable_is_one_the_settings_read():
    read = settings_variables()
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY_FILE"} <= read  # the parse finds them
    for name, service in APP_SERVICES.items():
        unknown = set(service.get("environment", {})) - read
        assert not unknown, f"{name} sets variables the settings never read: {unknown}"


def test_the_secret_is_the_key_the_makefile_makes():
    assert COMPOSE["secrets"]["promptopt-key"]["file"] == "./var/secret-key"
    assert "LOCAL_KEY := var/secret-key" in (ROOT / "Makefile").read_text()
    assert COMPOSE["x-app"]["environment"]["SECRET_KEY_FILE"] == "/run/secrets/promptopt-key"


def test_the_health_checks_ask_readyz_and_healthz():
    assert "/readyz" in " ".join(COMPOSE["services"]["web"]["healthcheck"]["test"])
    assert "/healthz" in next(line for line in (ROOT / "Dockerfile").read_text().splitlines()
                              if line.startswith("HEALTHCHECK"))
    assert re.search(r"^USER (?!root)\w+", (ROOT / "Dockerfile").read_text(), re.M)  # not root


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment_of(service, settings, tmp_path):
    """The service's environment, with this machine's database, Redis and key in place of the compose network's."""
    key = tmp_path / "secret-key"
    key.write_text("compose-test-key-" + "k" * 40)
    values = {**COMPOSE["x-app"]["environment"], **APP_SERVICES[service].get("environment", {})}
    values |= {
        "SECRET_KEY_FILE": str(key),
        "DATABASE_URL": _database_url(settings.DATABASES["default"]),
        "REDIS_URL": TEST_REDIS,
        "Q_CLUSTER_NAME": f"compose-test-{os.getpid()}",
    }
    if "PROMETHEUS_MULTIPROC_DIR" in values:
        (tmp_path / "prometheus").mkdir()
        values["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prometheus")
    environment = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    return environment | {k: str(v) for k, v in values.items()}


def command_of(service):
    program, *args = APP_SERVICES[service]["command"]
    return [sys.executable if program == "python" else str(BIN / program), *args]


def get(url, **headers):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


needs_services = pytest.mark.skipif(not redis_is_up(), reason="no Redis on 127.0.0.1:6379")


@needs_services
@pytest.mark.django_db(transaction=True)
def test_the_web_command_serves_its_health_checks_and_adds_up_its_workers_metrics(settings, tmp_path):
    port = free_port()
    log = open(tmp_path / "web.log", "w")
    web = subprocess.Popen([*command_of("web"), "-b", f"127.0.0.1:{port}"], cwd=ROOT, stdout=log, stderr=log,
                           env=environment_of("web", settings, tmp_path), start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert get(f"{base}/healthz") == (200, '{"status": "ok"}')
                break
            except OSError:  # refused, reset, or timed out while gunicorn's workers start on a loaded machine
                assert time.monotonic() < deadline and web.poll() is None, (tmp_path / "web.log").read_text()
                time.sleep(0.3)
        assert get(f"{base}/readyz")[0] == 200
        check = [sys.executable if part == "python" else part.replace(":8000", f":{port}")
                 for part in COMPOSE["services"]["web"]["healthcheck"]["test"][1:]]
        assert subprocess.run(check, capture_output=True).returncode == 0  # the compose health check itself
        for _ in range(6):  # no token: answered by DRF's way, 401, on whichever gunicorn worker takes it
            assert get(f"{base}/api/v1/prompts/triage/production/")[0] == 401
        status, text = get(f"{base}/metrics")
        assert status == 200
        assert 'promptopt_production_requests_total{code="401"} 6.0' in text  # summed over the workers
        assert 'promptopt_runs{status="succeeded"}' in text
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(30)
        log.close()


@needs_services
@pytest.mark.django_db(transaction=True)
def test_the_worker_command_starts_logs_json_and_stops_on_sigterm(settings, tmp_path):
    log = open(tmp_path / "worker.log", "w")
    environment = environment_of("worker", settings, tmp_path) | {"LOG_LEVEL": "INFO"}
    worker = subprocess.Popen(command_of("worker"), cwd=ROOT, stdout=log, stderr=log, env=environment,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "running." not in (tmp_path / "worker.log").read_text():
            assert time.monotonic() < deadline and worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.3)
        worker.send_signal(signal.SIGTERM)  # what `docker stop` sends: to the container's first process only
        assert worker.wait(int(COMPOSE["services"]["worker"]["stop_grace_period"].rstrip("s"))) == 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        log.close()
    lines = (tmp_path / "worker.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # LOG_FORMAT=json: every line an object
    assert any(entry["logger"] == "django-q" and "running." in entry["message"] for entry in entries)


@pytest.mark.django_db(transaction=True)
def test_the_migrate_command_runs(settings, tmp_path):
    environment = environment_of("migrate", settings, tmp_path)
    done = subprocess.run(command_of("migrate"), cwd=ROOT, env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
