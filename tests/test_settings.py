"""A bad environment variable stops start-up with a message that names it; the documented production environment
passes `check --deploy`; without a SECRET_KEY, DEBUG off does not start."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What the environment of a test may hold that would change what these start-ups see.
OURS = ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "SECRET_KEY_FILE", "DJANGO_SETTINGS_MODULE")


def manage(*args, **variables):
    """`manage.py ARGS` with the project's own settings, the environment of the tests less the variables above, a
    key (unless `variables` say otherwise) and `variables`."""
    env = {k: v for k, v in os.environ.items()
           if k not in OURS and not k.startswith(("SECURE_", "AXES_", "TRUSTED_PROXY"))}
    env |= {"DJANGO_SETTINGS_MODULE": "promptopt.settings", "SECRET_KEY": secrets.token_urlsafe(50)} | variables
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], capture_output=True, text=True, env=env,
                          cwd=ROOT)


def check_with(**variables):
    return manage("check", **variables)


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
        ("SECURE_SSL_REDIRECT", "sure", "SECURE_SSL_REDIRECT='sure' is not a boolean"),
        ("SECURE_HSTS_SECONDS", "a year", "SECURE_HSTS_SECONDS='a year' is not a valid int"),
        ("SECURE_HSTS_SECONDS", "-1", "SECURE_HSTS_SECONDS='-1' must be at least 0"),
        ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https", "SECURE_PROXY_SSL_HEADER='X-Forwarded-Proto: https'"),
        ("CSRF_TRUSTED_ORIGINS", "promptopt.example.com", "CSRF_TRUSTED_ORIGINS: 'promptopt.example.com' is not an"),
        ("SESSION_COOKIE_SECURE", "yes please", "SESSION_COOKIE_SECURE='yes please' is not a boolean"),
        ("AXES_FAILURE_LIMIT", "0", "AXES_FAILURE_LIMIT='0' must be at least 1"),
        ("AXES_COOLOFF_MINUTES", "soon", "AXES_COOLOFF_MINUTES='soon' is not a valid int"),
        ("TRUSTED_PROXY_COUNT", "-1", "TRUSTED_PROXY_COUNT='-1' must be at least 0"),
        ("SECRET_KEY_FILE", "/nonexistent/key", "SECRET_KEY_FILE='/nonexistent/key' cannot be read"),
        ("API_TOKEN_RATE", "lots", "API_TOKEN_RATE='lots' is not a rate"),
        ("API_TOKEN_RATE", "0/min", "API_TOKEN_RATE='0/min' is not a rate"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(name, value, message):
    result = check_with(**{name: value} | ({"SECRET_KEY": None} if name == "SECRET_KEY_FILE" else {}))
    assert result.returncode != 0
    assert message in result.stderr


def test_the_defaults_start():
    result = check_with()
    assert result.returncode == 0, result.stderr


def test_redis_url_switches_the_broker():
    broker = shown("Q_CLUSTER.get('redis')", "Q_CLUSTER.get('orm')", REDIS_URL="redis://127.0.0.1:6379/3")
    assert broker == ["'redis://127.0.0.1:6379/3'", "None"]


def shown(*names, **variables):
    """The settings `names` as the project's settings make them from `variables`, one repr per line."""
    code = "from django.conf import settings; " + "; ".join(f"print(repr(settings.{name}))" for name in names)
    result = manage("shell", "-c", code, **variables)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-len(names):]


def documented_production():
    """The production block of .env.example, as variables, with a key of its own in place of the placeholder."""
    text = (ROOT / ".env.example").read_text()
    block = text.split("# --- production ---\n", 1)[1].split("# --- end of production ---", 1)[0]
    variables = dict(re.fullmatch(r"# ([A-Z_]+)=(\S*)", line).groups() for line in block.splitlines())
    assert variables["DEBUG"] == "false" and "SECRET_KEY" in variables
    return variables | {"SECRET_KEY": secrets.token_urlsafe(50)}


def test_the_documented_production_environment_passes_check_deploy():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **documented_production())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_the_laptop_defaults_are_what_check_deploy_warns_about():
    """The defaults are for http://127.0.0.1: nothing turns HTTPS on by itself, so the test above means something."""
    result = manage("check", "--deploy")
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr, warning


def test_the_production_environment_sets_every_https_setting():
    names = ["SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
             "SECURE_PROXY_SSL_HEADER", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "CSRF_TRUSTED_ORIGINS"]
    assert shown(*names, **documented_production()) == [
        "True", "31536000", "True", "True", "('HTTP_X_FORWARDED_PROTO', 'https')", "True", "True",
        "['https://promptopt.example.com']",
    ]
    assert shown(*names) == ["False", "0", "False", "False", "None", "False", "False", "[]"]


def test_debug_off_without_a_secret_key_does_not_start_and_names_it():
    for command in (["check"], ["migrate", "--plan"]):
        result = manage(*command, SECRET_KEY=None, DEBUG="false")
        assert result.returncode != 0
        assert "SECRET_KEY is not set and DEBUG is off" in result.stderr
    assert "SECRET_KEY is not set" in manage("check", SECRET_KEY="   ").stderr  # blank is not a key


def test_debug_on_runs_on_a_development_key_that_check_deploy_flags():
    assert shown("DEBUG", "SECRET_KEY", SECRET_KEY=None, DEBUG="true")[0] == "True"
    assert "security.W009" in manage("check", "--deploy", SECRET_KEY=None, DEBUG="true").stderr


def test_the_key_can_come_from_a_file(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file-" + "k" * 40 + "\n")
    assert shown("SECRET_KEY", SECRET_KEY=None, SECRET_KEY_FILE=str(key_file)) == [repr("from-a-file-" + "k" * 40)]
    assert shown("SECRET_KEY", SECRET_KEY="from-the-variable", SECRET_KEY_FILE=str(key_file)) == [
        "'from-the-variable'"]  # the variable wins
    key_file.write_text("")
    assert "is an empty file" in manage("check", SECRET_KEY=None, SECRET_KEY_FILE=str(key_file)).stderr
