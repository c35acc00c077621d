"""The OpenAPI schema, Swagger UI, and schemathesis: every documented operation, called with generated input by a
team member's token, answers no 5xx and what the schema says it answers."""

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from rest_framework.test import APIClient
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from optimization.reviews import review_request
from optimization.services import prompt_create, run_create
from promptopt.teams.models import ApiToken
from tests.support.api import API_URLS, isolate, new_version, ship

pytestmark = API_URLS


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    isolate(settings, tmp_path)


def test_the_schema_documents_every_endpoint_and_its_errors():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert len(paths) == 34  # 22; issue 14: a prompt's export and import, its canary (4), outcomes; webhooks (5)
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert "401" in operation["responses"], (method, path)
            assert operation["summary"], (method, path)
            if "{" in path:
                assert "404" in operation["responses"], (method, path)
    error = schema["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["$ref"].endswith("/ErrorBody")
    assert set(schema["components"]["securitySchemes"]) == {"tokenAuth", "cookieAuth"}


def test_swagger_ui_is_served_without_a_cdn():
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "https://" not in page


def _wsgi_app():
    """Django's WSGI application, keeping the test's database connection: the test client does the same, since
    closing the connection at the end of a request would end the test's transaction."""
    handler = WSGIHandler()

    def app(environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = handler(environ, start_response)
            body = b"".join(response)
            response.close()
            return [body]
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)

    return app


@pytest.fixture
def member_key(dataset, editor, approver):
    """Something for generated calls to find: a dataset, a prompt in production with a version in review, a run."""
    prompt = prompt_create(team=dataset.team, name="sports", created_by=editor)
    ship(new_version(prompt, editor, "Judge sports sentences."), editor, approver)
    review_request(version=new_version(prompt, editor, "Judge carefully."), by=editor)
    run_create(dataset=dataset, start_version=prompt.versions.get(number=1), created_by=editor, enqueue=False)
    return ApiToken.issue(user=editor, name="schemathesis", scope=ApiToken.Scope.WRITE)[1]


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_generated_calls_get_no_5xx_and_answers_that_match_the_schema(member_key):
    """Valid input for every operation, then input that breaks the schema. Bounded: a few examples each.

    The operations are walked here rather than with `schema.parametrize()`: its lazy form (needed to reach the
    test's database and token) reads a pytest attribute that pytest 9 no longer has."""
    schema = schemathesis.openapi.from_wsgi("/api/schema/", _wsgi_app())
    headers = {"Authorization": f"Bearer {member_key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 43  # 28; issue 14: export, import, canary (4 operations), outcomes; webhooks (8)
    for operation in operations:
        for mode, examples in ((GenerationMode.POSITIVE, 10), (GenerationMode.NEGATIVE, 5)):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck), phases=[Phase.generate])
            def call(case):
                case.call_and_validate(headers=headers, checks=CHECKS)

            call()
