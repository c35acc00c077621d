"""The REST API as a whole: who may call it, what each caller sees of every endpoint, tokens, errors, limits."""

import io
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from datasets.models import Dataset
from datasets.services import dataset_import
from optimization.models import AuditEntry, Prompt, PromptVersion, Run
from optimization.reviews import review_request
from optimization.services import prompt_create, run_create
from promptopt.api.authentication import TokenAuthentication
from promptopt.teams.models import ApiToken, Role
from tests.support.api import (
    API_URLS,
    error_of,
    isolate,
    new_version,
    session_client,
    ship,
    token_client,
)
from tests.support.people import member

pytestmark = API_URLS


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    isolate(settings, tmp_path)


@pytest.fixture
def world(team, editor, approver):
    """A team's dataset, a prompt with a version in production and one in review, and a queued run."""
    rows = b"question,answer\n" + b"".join(f"What is {i} plus {i}?,{2 * i}\n".encode() for i in range(10))
    dataset = dataset_import(team=team, name="sums", file=io.BytesIO(rows), filename="sums.csv")
    prompt = prompt_create(team=dataset.team, name="sports judge", created_by=editor)
    shipped = ship(new_version(prompt, editor, "Judge sports sentences."), editor, approver)
    in_review = new_version(prompt, editor, "Judge them carefully.")
    review_request(version=in_review, by=editor)
    run = run_create(dataset=dataset, start_version=prompt.versions.get(number=1), created_by=editor,
                     enqueue=False, primary_provider="openai")
    return {"dataset": dataset.pk, "prompt": prompt.pk, "name": prompt.name, "run": run.pk,
            "in_review": in_review.number, "shipped": shipped.number, "team": dataset.team_id}


READS = [
    "/api/v1/teams/",
    "/api/v1/datasets/",
    "/api/v1/datasets/{dataset}/",
    "/api/v1/datasets/{dataset}/examples/",
    "/api/v1/prompts/",
    "/api/v1/prompts/{prompt}/",
    "/api/v1/prompts/{prompt}/versions/",
    "/api/v1/prompts/{prompt}/versions/1/",
    "/api/v1/prompts/{prompt}/diff/",
    "/api/v1/prompts/{name}/production/",
    "/api/v1/runs/",
    "/api/v1/runs/{run}/",
    "/api/v1/runs/{run}/versions/1/results/",
    "/api/v1/audit/",
]
OBJECT_READS = [url for url in READS if "{" in url]
LISTS = ["/api/v1/datasets/", "/api/v1/prompts/", "/api/v1/runs/", "/api/v1/audit/"]
WRITES = [
    ("post", "/api/v1/datasets/", {"name": "more", "team": "{team}", "file": "a CSV file"}),
    ("delete", "/api/v1/datasets/{dataset}/", None),
    ("post", "/api/v1/prompts/", {"name": "another", "team": "{team}"}),
    ("post", "/api/v1/prompts/{prompt}/versions/", {"system_prompt": "Mine now."}),
    ("post", "/api/v1/prompts/{prompt}/versions/1/request-review/", {}),
    ("post", "/api/v1/prompts/{prompt}/versions/{in_review}/approve/", {}),
    ("post", "/api/v1/prompts/{prompt}/versions/{in_review}/reject/", {"comment": "No."}),
    ("post", "/api/v1/prompts/{prompt}/versions/1/promote/", {}),
    ("post", "/api/v1/prompts/{prompt}/versions/{shipped}/rollback/", {}),
    ("post", "/api/v1/runs/", {"dataset": "{dataset}", "prompt": "{prompt}"}),
    ("post", "/api/v1/runs/{run}/cancel/", {}),
]


def filled(template, world):
    return template.format(**world)


def body_of(body, world):
    return None if body is None else {key: filled(value, world) if isinstance(value, str) else value
                                      for key, value in body.items()}


def call(client, method, url, body=None):
    if body and "file" in body:
        return client.post(url, body | {"file": _csv_file()}, format="multipart")
    return getattr(client, method)(url, body, format="json")


def snapshot():
    """Everything a write could change."""
    return (
        Dataset.objects.count(), Prompt.objects.count(), AuditEntry.objects.count(),
        sorted(PromptVersion.objects.values_list("id", "status")),
        sorted(Run.objects.values_list("id", "status", "cancel_requested")),
    )


@pytest.mark.parametrize("url", READS)
def test_it_shows_a_team_member_every_endpoint(world, editor, url):
    response = token_client(editor).get(filled(url, world))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("url", READS + ["/api/v1/tokens/"])
def test_it_refuses_anonymous_callers_with_401(world, url):
    response = APIClient().get(filled(url, world))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert error_of(response)["code"] == "not_authenticated"


@pytest.mark.parametrize(("method", "url", "body"), WRITES)
def test_it_refuses_anonymous_writes_and_changes_nothing(world, method, url, body):
    before = snapshot()
    response = call(APIClient(), method, filled(url, world), body_of(body, world))
    assert response.status_code == 401
    assert snapshot() == before


@pytest.mark.parametrize("url", OBJECT_READS)
def test_another_teams_objects_are_404_for_a_stranger(world, stranger, url):
    response = token_client(stranger).get(filled(url, world))
    assert response.status_code == 404, response.content
    assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize("url", LISTS)
def test_a_strangers_lists_hold_nothing_of_another_team(world, stranger, url):
    response = token_client(stranger).get(url)
    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize(("method", "url", "body"), WRITES)
def test_a_strangers_token_changes_nothing_of_another_team(world, stranger, method, url, body):
    """The stranger is an approver in their own team: roles do not carry over."""
    before = snapshot()
    response = call(token_client(stranger), method, filled(url, world), body_of(body, world))
    assert response.status_code == 404, response.content
    assert snapshot() == before


@pytest.mark.parametrize(("method", "url", "body"), [w for w in WRITES if "approve" not in w[1]
                                                      and "reject" not in w[1]])
def test_a_viewer_is_told_which_role_a_write_needs(world, team, method, url, body):
    viewer = member(team, "vera", Role.VIEWER)
    before = snapshot()
    response = call(token_client(viewer), method, filled(url, world), body_of(body, world))
    assert response.status_code == 403, response.content
    error = error_of(response)
    assert error["code"] == "permission_denied"
    assert "role in Search quality" in error["message"]
    assert snapshot() == before


def _csv_file():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("more.csv", b"input,answer\n1+1,2\n", content_type="text/csv")


# ---------------------------------------------------------------------------------------------------------
# Tokens


def test_it_makes_a_token_shown_once_that_works_as_bearer_and_token(editor):
    response = session_client_with_csrf(editor).post("/api/v1/tokens/", {"name": "checkout", "scope": "read"},
                                                     format="json")
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"  # the key is in it
    key = response.json()["key"]
    assert key.startswith("po_") and ApiToken.objects.get().key_hash == ApiToken.hash(key)
    for scheme in ("Bearer", "Token"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
        assert client.get("/api/v1/teams/").status_code == 200
    listed = session_client(editor).get("/api/v1/tokens/").json()["results"]
    assert [token["name"] for token in listed] == ["checkout"]
    assert "key" not in listed[0] and listed[0]["prefix"] == key[:10]


def session_client_with_csrf(user):
    client = session_client(user)
    client.get("/api/v1/teams/")  # no token needed for a read; a CSRF cookie comes from the login below
    from django.middleware.csrf import _get_new_csrf_string

    secret = _get_new_csrf_string()
    client.cookies["csrftoken"] = secret
    client.credentials(HTTP_X_CSRFTOKEN=secret)
    return client


def test_a_session_write_needs_the_csrf_token(editor):
    response = session_client(editor).post("/api/v1/tokens/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in error_of(response)["message"]
    assert not ApiToken.objects.exists()


def test_a_token_cannot_make_tokens(editor):
    response = token_client(editor).post("/api/v1/tokens/", {"name": "successor"}, format="json")
    assert response.status_code == 403
    assert "sign in" in error_of(response)["message"]
    assert ApiToken.objects.count() == 1


def test_a_revoked_token_stops_working_at_once(editor):
    client = token_client(editor)
    token = ApiToken.objects.get()
    assert client.delete(f"/api/v1/tokens/{token.pk}/").status_code == 204
    response = client.get("/api/v1/teams/")
    assert response.status_code == 401
    assert error_of(response) == {"code": "authentication_failed", "message": "Invalid or revoked token."}
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_nobody_sees_or_revokes_anothers_tokens(editor, stranger):
    token, _ = ApiToken.issue(user=editor, name="mine")
    client = token_client(stranger)
    assert client.delete(f"/api/v1/tokens/{token.pk}/").status_code == 404
    assert [t["name"] for t in client.get("/api/v1/tokens/").json()["results"]] == ["tests"]
    token.refresh_from_db()
    assert token.is_active


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer po_not-a-real-key", "Token po_a po_b"])
def test_a_bad_key_is_a_401(editor, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/teams/")
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_a_token_of_an_inactive_user_is_refused(editor):
    client = token_client(editor)
    editor.is_active = False
    editor.save()
    assert client.get("/api/v1/teams/").status_code == 401


def test_last_used_is_written_at_most_once_a_minute(editor, monkeypatch):
    client = token_client(editor)
    token = ApiToken.objects.get()
    client.get("/api/v1/teams/")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    client.get("/api/v1/teams/")
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    client.get("/api/v1/teams/")
    token.refresh_from_db()
    assert token.last_used_at < first  # this process wrote it less than a minute ago: it does not look
    later = time.monotonic() + 61
    monkeypatch.setattr(TokenAuthentication, "clock", staticmethod(lambda: later))
    client.get("/api/v1/teams/")
    token.refresh_from_db()
    assert token.last_used_at > first


def test_it_lists_your_teams_with_your_role(editor, team, other_team):
    member(other_team, "both", Role.VIEWER)
    from promptopt.teams.models import Membership

    Membership.objects.create(team=other_team, user=editor, role=Role.VIEWER)
    teams = token_client(editor).get("/api/v1/teams/").json()["results"]
    assert teams == [{"id": other_team.pk, "name": "Other team", "role": "viewer"},
                     {"id": team.pk, "name": "Search quality", "role": "editor"}]


# ---------------------------------------------------------------------------------------------------------
# One shape for every error, and the rate limit


def test_field_errors_come_in_the_error_shape(editor, team):
    response = token_client(editor).post("/api/v1/prompts/", {"team": team.pk}, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert error["message"] == "name: This field is required."
    assert error["details"] == {"name": ["This field is required."]}


def test_a_refusal_by_the_rules_is_a_400_with_the_services_message(editor, team):
    client = token_client(editor)
    client.post("/api/v1/prompts/", {"team": team.pk, "name": "judge"}, format="json")
    response = client.post("/api/v1/prompts/", {"team": team.pk, "name": "judge"}, format="json")
    assert response.status_code == 400
    assert error_of(response) == {"code": "refused", "message": "Team Search quality already has a prompt named "
                                                                "'judge'."}


def test_an_unknown_api_url_is_a_json_404(editor):
    for url in ("/api/v1/nothing-here/", "/api/v1/datasets"):
        response = token_client(editor).get(url)
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
    assert "end with a slash" in error_of(token_client(editor).get("/api/v1/datasets"))["message"]


def test_a_malformed_query_is_a_400_not_a_500(editor):
    client = token_client(editor)
    assert client.get("/api/v1/datasets/?team=abc").status_code == 400
    assert client.get("/api/v1/datasets/?team=²").status_code == 400
    assert client.get("/api/v1/runs/?status=sleeping").status_code == 400
    assert client.get("/api/v1/datasets/?q=%00").status_code in (200, 400)
    assert client.get("/api/v1/prompts/a%00b/production/").status_code == 400


def test_each_token_has_its_own_rate_and_the_refusal_says_when_to_retry(editor, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "3/min"}}
    client, other = token_client(editor), token_client(editor)
    assert [client.get("/api/v1/teams/").status_code for _ in range(3)] == [200, 200, 200]
    response = client.get("/api/v1/teams/")
    assert response.status_code == 429
    error = error_of(response)
    assert error["code"] == "throttled"
    assert 0 < error["details"]["retry_after"] <= 60
    assert 0 < int(response["Retry-After"]) <= 60
    assert other.get("/api/v1/teams/").status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/prompts/", "/api/v1/runs/"])
def test_a_body_past_the_size_limit_is_a_400_in_the_error_shape(editor, settings, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = token_client(editor).post(path, {"name": "x" * 2000})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert "exceeded" in response.json()["error"]["message"]
