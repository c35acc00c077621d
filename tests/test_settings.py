"""A bad environment variable stops start-up with a message that names it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def check_with(**variables):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")} | variables
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), "check"], capture_output=True, text=True, env=env)


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
        ("Q_TIMEOUT", "soon", "Q_TIMEOUT='soon' is not a valid int"),
        ("Q_WORKERS", "0", "Q_WORKERS='0' must be at least 1"),
        ("LLM_TIMEOUT", "fast", "LLM_TIMEOUT='fast' is not a valid float"),
        ("REDIS_URL", "http://127.0.0.1:6379", "REDIS_URL='http://127.0.0.1:6379' must start with redis://"),
        ("DATABASE_URL", "nosuchdb://localhost/x", "DATABASE_URL"),
        ("LLM_DEFAULT_PROVIDER", "gpt", "LLM_DEFAULT_PROVIDER='gpt' is not one of"),
        ("PENDING_UPLOAD_MAX_AGE_HOURS", "0", "PENDING_UPLOAD_MAX_AGE_HOURS='0' must be at least 1"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(name, value, message):
    result = check_with(**{name: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_the_defaults_start():
    result = check_with()
    assert result.returncode == 0, result.stderr


def test_redis_url_switches_the_broker():
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c",
         "from django.conf import settings; print(settings.Q_CLUSTER.get('redis'), settings.Q_CLUSTER.get('orm'))"],
        capture_output=True, text=True, env={**os.environ, "REDIS_URL": "redis://127.0.0.1:6379/3"},
    )
    assert result.stdout.split()[-2:] == ["redis://127.0.0.1:6379/3", "None"], result.stderr
