"""GET /api/v1/prompts/{name}/production/: what applications fetch, from the cache, never stale after a promotion."""

from urllib.parse import quote

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from optimization.api import production
from optimization.models import Prompt
from optimization.reviews import review_approve, review_request, version_promote, version_rollback
from promptopt.teams.models import Membership, Role
from tests.support.api import API_URLS, error_of, isolate, new_version, session_client, ship, token_client
from tests.support.people import member

pytestmark = API_URLS


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    isolate(settings, tmp_path)


@pytest.fixture
def prompt(team):
    return Prompt.objects.create(team=team, name="ticket triage")


@pytest.fixture
def first(prompt, editor, approver):
    return ship(new_version(prompt, editor, "Route the ticket."), editor, approver)


URL = "/api/v1/prompts/ticket%20triage/production/"


def test_it_returns_the_production_versions_text_and_metadata(first, editor, team):
    response = token_client(editor).get(URL)
    assert response.status_code == 200
    document = response.json()
    promoted = first.audit_entries.get(action="promote").created_at
    assert document == {
        "prompt": "ticket triage", "prompt_id": first.prompt_id, "team": team.pk, "version": first.number,
        "version_id": first.pk, "system_prompt": "Route the ticket.", "output_instruction": "{input}",
        "demonstrations": [], "created_at": first.created_at.isoformat().replace("+00:00", "Z"),
        "promoted_at": promoted.isoformat().replace("+00:00", "Z"),
    }
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "private, max-age=0, must-revalidate"
    etag = response["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert "Authorization" in response["Vary"]


def test_the_etag_answers_304_while_the_version_is_the_same(first, editor):
    client = token_client(editor)
    etag = client.get(URL)["ETag"]
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get(URL, HTTP_IF_NONE_MATCH=sent)
        assert response.status_code == 304, sent
        assert response.content == b""
        assert response["ETag"] == etag
    assert client.get(URL, HTTP_IF_NONE_MATCH='"something-else"').status_code == 200


def test_the_first_get_after_a_promotion_returns_the_new_version(first, prompt, editor, approver):
    client = token_client(editor)
    before = client.get(URL)
    second = new_version(prompt, editor, "Route the ticket to one team.")
    ship(second, editor, approver)
    after = client.get(URL, HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200
    assert after.json()["version"] == second.number
    assert after.json()["system_prompt"] == "Route the ticket to one team."
    assert after["ETag"] != before["ETag"]


def test_a_rollback_is_served_at_once_with_its_own_etag(first, prompt, editor, approver):
    client = token_client(editor)
    original = client.get(URL)
    ship(new_version(prompt, editor, "Newer."), editor, approver)
    assert client.get(URL).json()["version"] == 2
    version_rollback(version=first, by=approver)
    response = client.get(URL, HTTP_IF_NONE_MATCH=original["ETag"])
    assert response.status_code == 200  # the same text, but promoted again: a new document
    assert response.json()["version"] == first.number
    assert response.json()["promoted_at"] > original.json()["promoted_at"]


def test_the_document_is_served_from_djangos_cache(first, editor, monkeypatch):
    client = token_client(editor)
    body = client.get(URL).content
    row = production.production_rows(user=editor, name="ticket triage")[0]
    assert cache.get(production.production_cache_key(row, "ticket triage")).body == body
    production._recent.clear()  # as another process would: only Django's cache holds it

    def no_rendering(version_id):
        raise AssertionError("rendered again instead of served from the cache")

    monkeypatch.setattr(production, "_render_production", no_rendering)
    assert client.get(URL).content == body


def test_nothing_promoted_is_a_404_that_says_so(prompt, editor):
    new_version(prompt, editor)
    response = token_client(editor).get(URL)
    assert response.status_code == 404
    assert error_of(response) == {
        "code": "not_found",
        "message": "Prompt 'ticket triage' of team Search quality has no production version yet: promote an "
                   "approved version.",
    }


def test_an_approved_version_is_not_served_until_promoted(prompt, editor, approver):
    version = new_version(prompt, editor)
    review_request(version=version, by=editor)
    review_approve(version=version, by=approver)
    assert token_client(editor).get(URL).status_code == 404
    version_promote(version=version, by=approver)
    assert token_client(editor).get(URL).status_code == 200


def test_an_unknown_prompt_is_a_404(editor, team):
    response = token_client(editor).get("/api/v1/prompts/nope/production/")
    assert response.status_code == 404
    assert error_of(response)["message"] == "Team Search quality has no prompt named 'nope'."


def test_another_teams_prompt_of_the_same_name_is_not_yours(first, stranger, other_team):
    response = token_client(stranger).get(URL)
    assert response.status_code == 404
    assert "Other team has no prompt named" in error_of(response)["message"]


def test_anonymous_callers_get_a_401(first):
    assert APIClient().get(URL).status_code == 401


def test_a_person_signed_in_reads_it_too(first, editor):
    assert session_client(editor).get(URL).json()["version"] == first.number


def test_a_member_of_several_teams_names_the_team(first, editor, other_team):
    Membership.objects.create(team=other_team, user=editor, role=Role.VIEWER)
    client = token_client(editor)
    response = client.get(URL)
    assert response.status_code == 400
    assert "?team=" in error_of(response)["message"]
    assert client.get(f"{URL}?team={first.prompt.team_id}").json()["version"] == first.number
    assert client.get(f"{URL}?team={other_team.pk}").status_code == 404
    outsider = member(other_team, "olga", Role.VIEWER)
    assert token_client(outsider).get(f"{URL}?team={first.prompt.team_id}").status_code == 404


def test_names_with_slashes_and_other_characters_work(team, editor, approver):
    prompt = Prompt.objects.create(team=team, name="checkout/refunds: é")
    ship(new_version(prompt, editor, "Refunds."), editor, approver)
    response = token_client(editor).get(f"/api/v1/prompts/{quote(prompt.name, safe='')}/production/")
    assert response.json()["prompt"] == "checkout/refunds: é"


def test_a_renamed_prompt_is_served_under_its_new_name(first, editor):
    client = token_client(editor)
    client.get(URL)
    Prompt.objects.filter(pk=first.prompt_id).update(name="triage")
    assert client.get(URL).status_code == 404
    assert client.get("/api/v1/prompts/triage/production/").json()["prompt"] == "triage"


def test_a_promotion_through_the_api_shows_in_the_next_get(first, prompt, editor, approver):
    reader, reviewer = token_client(editor), token_client(approver)
    etag = reader.get(URL)["ETag"]
    second = new_version(prompt, editor, "Route it.")
    base = f"/api/v1/prompts/{prompt.pk}/versions/{second.number}"
    assert reader.post(f"{base}/request-review/", {}, format="json").status_code == 200
    assert reviewer.post(f"{base}/approve/", {}, format="json").status_code == 200
    assert reviewer.post(f"{base}/promote/", {}, format="json").status_code == 200
    response = reader.get(URL, HTTP_IF_NONE_MATCH=etag)
    assert (response.status_code, response.json()["version"]) == (200, second.number)


# ---------------------------------------------------------------------------------------------------------
# A token's GET is served without DRF's request cycle (ProductionPromptView.served); the rules must not differ.


def test_a_tokens_get_takes_one_query(first, editor, django_assert_num_queries):
    client = token_client(editor)
    client.get(URL)  # writes the token's last use
    with django_assert_num_queries(1):
        assert client.get(URL).status_code == 200


def test_a_token_and_a_session_get_the_same_answer(first, editor):
    by_token, by_session = token_client(editor).get(URL), session_client(editor).get(URL)
    assert by_token.content == by_session.content
    for header in ("Content-Type", "ETag", "Cache-Control", "Vary", "Allow"):
        assert by_token[header] == by_session[header], header


def test_a_token_revoked_or_of_someone_deactivated_is_refused(first, editor):
    from promptopt.teams.models import ApiToken

    client = token_client(editor)
    assert client.get(URL).status_code == 200
    token = ApiToken.objects.get()
    token.revoke()
    response = client.get(URL)
    assert (response.status_code, error_of(response)["code"]) == (401, "authentication_failed")
    client = token_client(editor)
    editor.is_active = False
    editor.save()
    assert client.get(URL).status_code == 401


def test_a_member_who_leaves_the_team_loses_the_prompt_at_once(first, editor):
    client = token_client(editor)
    assert client.get(URL).status_code == 200
    Membership.objects.filter(user=editor).delete()
    response = client.get(URL)
    assert (response.status_code, error_of(response)["message"]) == (404, "You belong to no team.")


def test_a_superusers_token_reads_any_teams_prompt_named_by_team(first, team, other_team, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="x")
    client = token_client(admin)
    assert client.get(URL).status_code == 400  # several teams: which one?
    assert client.get(f"{URL}?team={team.pk}").json()["version"] == first.number


def test_the_rate_limit_counts_a_tokens_gets(first, editor, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "3/min"}}
    client = token_client(editor)
    assert [client.get(URL).status_code for _ in range(3)] == [200, 200, 200]
    response = client.get(URL)
    assert (response.status_code, error_of(response)["code"]) == (429, "throttled")


def test_a_tokens_gets_mark_it_used(first, editor):
    from promptopt.teams.models import ApiToken

    token_client(editor).get(URL)
    assert ApiToken.objects.get().last_used_at is not None


@pytest.mark.parametrize("query", ["?team=abc", "?team=", "?page=2", "?team=1&team=2"])
def test_odd_queries_get_the_same_answers_as_before(first, editor, query):
    by_token, by_session = token_client(editor).get(URL + query), session_client(editor).get(URL + query)
    assert (by_token.status_code, by_token.content) == (by_session.status_code, by_session.content)


@pytest.mark.parametrize("failing", ["production_rows_for_key", "throttle", "touch", "render"])
def test_a_database_or_cache_failure_is_a_json_500_not_a_page(first, editor, monkeypatch, settings, failing):
    from django.db import OperationalError

    from promptopt.api.authentication import TokenAuthentication
    from promptopt.api.throttling import TokenRateThrottle

    def down(*args, **kwargs):
        raise OperationalError("the database is down")

    settings.DEBUG = False
    client = token_client(editor)
    client.raise_request_exception = False
    production._recent.clear()
    cache.clear()
    # The quick path's step that fails, and the same step on DRF's way, as a real outage would.
    target = {
        "production_rows_for_key": [(production, "production_rows_for_key"), (production, "production_rows")],
        "throttle": [(TokenRateThrottle, "allow")],
        "touch": [(TokenAuthentication, "touch")],
        "render": [(production, "_render_production")],
    }[failing]
    for owner, name in target:
        monkeypatch.setattr(owner, name, down)
    response = client.get(URL)
    assert response.status_code == 500
    assert error_of(response)["code"] == "server_error"


def test_the_quick_path_follows_the_apis_configuration(first, editor, monkeypatch):
    """Tokens turned off for the view: a token no longer reads the production prompt by the quick path either."""
    from rest_framework.authentication import SessionAuthentication

    from optimization.api.production import ProductionPromptView

    client = token_client(editor)
    assert client.get(URL).status_code == 200
    monkeypatch.setattr(ProductionPromptView, "authentication_classes", [SessionAuthentication], raising=False)
    assert client.get(URL).status_code == 403
