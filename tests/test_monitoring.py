"""/healthz, /readyz and /metrics: what a container's health check, a load balancer and Prometheus ask; JSON logs."""

import json
import logging
import sys

import pytest
import redis
from django.db import connections
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from optimization.models import Prompt
from promptopt.monitoring import JsonFormatter
from tests.support.api import isolate, new_version, ship, token_client
from tests.test_loop import run_to_the_end, start_run, student  # noqa: F401 (a fixture)

TEST_REDIS = "redis://127.0.0.1:6379/7"


def redis_is_up():
    try:
        return redis.Redis.from_url(TEST_REDIS, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


def test_healthz_answers_without_the_database_whatever_the_host_and_https_settings(client, settings):
    settings.ALLOWED_HOSTS = ["promptopt.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/healthz", HTTP_HOST="10.1.2.3:8000")  # what a probe sends: the container's address
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    assert client.get("/accounts/login/", HTTP_HOST="promptopt.example.com").status_code == 301  # others redirect


@pytest.mark.django_db
def test_readyz_answers_when_the_database_does(client, settings):
    settings.REDIS_URL = ""
    response = client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_with_the_reason_when_the_database_does_not_answer(client, settings):
    settings.REDIS_URL = ""
    connection = connections["default"]
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent/directory/promptopt.sqlite3"
    else:
        connection.settings_dict.update(PORT="1", HOST="127.0.0.1")
    try:
        response = client.get("/readyz")
        healthy = client.get("/healthz")
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["reason"].startswith("The database does not answer: OperationalError")
    assert healthy.status_code == 200  # the process is up: restarting it would not bring the database back


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_does_not_answer(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reason"].startswith("The broker does not answer: ConnectionError")


@pytest.mark.django_db
@pytest.mark.skipif(not redis_is_up(), reason="no Redis on 127.0.0.1:6379")
def test_readyz_asks_the_broker_when_there_is_one(client, settings):
    settings.REDIS_URL = TEST_REDIS
    assert client.get("/readyz").status_code == 200


@pytest.mark.django_db
def test_probes_are_read_only(client):
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.post(path).status_code == 405


def scrape(client, **headers):
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.django_db
def test_metrics_are_for_this_machine_or_a_bearer_of_the_token(settings):
    settings.METRICS_TOKEN = ""
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200
    refused = Client(REMOTE_ADDR="10.0.0.5").get("/metrics")
    assert refused.status_code == 403 and "METRICS_TOKEN" in refused.json()["detail"]
    # A reverse proxy on this machine connects from loopback on anyone's behalf.
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403

    settings.METRICS_TOKEN = "scrape-secret"
    remote = Client(REMOTE_ADDR="10.0.0.5")
    assert remote.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200
    assert remote.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403  # a token set: everyone shows it


@pytest.mark.usefixtures("student")
def test_the_counters_move_when_a_run_executes_and_applications_fetch_a_prompt(dataset, settings, tmp_path, editor,
                                                                              approver):
    isolate(settings, tmp_path)
    settings.METRICS_TOKEN = ""
    client = Client()
    before = scrape(client)

    run = run_to_the_end(start_run(dataset, use_cache=False))
    iterations = run.iterations.count()
    prompt = Prompt.objects.create(team=dataset.team, name="triage")
    ship(new_version(prompt, editor, "Route the ticket."), editor, approver)
    application = token_client(editor)
    etag = application.get("/api/v1/prompts/triage/production/")["ETag"]
    assert application.get("/api/v1/prompts/triage/production/", HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert application.get("/api/v1/prompts/nothing/production/").status_code == 404
    after = scrape(client)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("promptopt_runs", status="succeeded") == 1
    assert moved("promptopt_runs", status="running") == 0
    calls = run.llm_calls.filter(purpose="inference")
    assert moved("promptopt_llm_calls_total", provider="openai", purpose="inference") == calls.count() > 0
    assert moved("promptopt_llm_calls_total", provider="openai", purpose="optimizer") == run.llm_calls.filter(
        purpose="optimizer").count()
    assert moved("promptopt_llm_tokens_total", provider="openai", purpose="inference", direction="input") == sum(
        calls.values_list("input_tokens", flat=True))
    assert moved("promptopt_llm_cache_hits_total", provider="openai", purpose="inference") == 0
    assert moved("promptopt_run_step_duration_seconds_count", step="primary_inference") == 1
    assert moved("promptopt_run_step_duration_seconds_count", step="optimizer") == iterations
    assert moved("promptopt_run_step_duration_seconds_bucket", step="optimizer", le="+Inf") == iterations
    assert moved("promptopt_production_requests_total", code="200") == 1
    assert moved("promptopt_production_requests_total", code="304") == 1
    assert moved("promptopt_production_requests_total", code="404") == 1
    assert ("promptopt_queue_depth", (("queue", settings.Q_CLUSTER["name"]),)) in after


def test_json_logs_are_one_object_a_line():
    try:
        raise ValueError("bad value")
    except ValueError:
        record = logging.LogRecord("promptopt.loop", logging.ERROR, __file__, 1, "Run %s failed", (7,), sys.exc_info())
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["level"] == "ERROR" and entry["logger"] == "promptopt.loop" and entry["message"] == "Run 7 failed"
    assert entry["time"].endswith("Z") and "ValueError: bad value" in entry["exception"]
