"""API tokens have a scope chosen when they are made (serve, read, write) and may expire; the scope is enforced for
every API view, and the production prompt's quick path answers as DRF's way does for each kind of token."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import URLPattern
from django.utils import timezone

from promptopt import api_urls
from promptopt.api.authentication import TokenScope
from promptopt.teams.models import ApiToken
from tests import test_api
from tests.support.api import API_URLS, error_of, isolate, session_client, token_client
from tests.test_api import READS, WRITES, body_of, call, filled, snapshot

pytestmark = API_URLS

SERVE, READ, WRITE = ApiToken.Scope.SERVE, ApiToken.Scope.READ, ApiToken.Scope.WRITE
PRODUCTION = "/api/v1/prompts/{name}/production/"


world = test_api.world  # the fixture: a team's dataset, a prompt in production and one in review, a run


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    isolate(settings, tmp_path)


def test_every_api_view_enforces_the_scope():
    """Every view behind /api/v1/ has TokenScope among its permissions: none set its own and left it out."""
    views = [pattern.callback.view_class for pattern in api_urls.v1 if isinstance(pattern, URLPattern)]
    assert len(views) == len(api_urls.v1) > 20
    for view in views:
        assert TokenScope in [type(permission) for permission in view().get_permissions()], view
    assert [view for view in views if getattr(view, "serves_applications", False)] == [
        api_urls.production.ProductionPromptView, api_urls.rollouts.OutcomeView]  # fetch; report outcomes


# ---------------------------------------------------------------------------------------------------------
# serve: the production prompt, and nothing else


@pytest.mark.parametrize("url", [url for url in READS if url != PRODUCTION] + ["/api/v1/tokens/"])
def test_a_serve_token_reads_nothing_but_the_production_prompt(world, editor, url):
    response = token_client(editor, scope=SERVE).get(filled(url, world))
    assert response.status_code == 403, response.content
    error = error_of(response)
    assert error["code"] == "permission_denied"
    assert error["message"].startswith("This token's scope is serve: it may only fetch production prompts")


@pytest.mark.parametrize(("method", "url", "body"), WRITES)
def test_a_serve_token_changes_nothing(world, approver, method, url, body):
    before = snapshot()
    response = call(token_client(approver, scope=SERVE), method, filled(url, world), body_of(body, world))
    assert response.status_code == 403, response.content
    assert "scope is serve" in error_of(response)["message"]
    assert snapshot() == before


def test_a_serve_token_fetches_the_production_prompt_by_the_quick_path(world, editor, django_assert_num_queries):
    client = token_client(editor, scope=SERVE)
    url = filled(PRODUCTION, world)
    first = client.get(url)  # writes the token's last use
    assert first.status_code == 200 and first.json()["version"] == world["shipped"]
    with django_assert_num_queries(1):
        again = client.get(url)
    by_session = session_client(editor).get(url)
    assert again.content == by_session.content
    for header in ("Content-Type", "ETag", "Cache-Control", "Vary", "Allow"):
        assert again[header] == by_session[header], header


def test_a_serve_tokens_other_methods_on_the_production_prompt_are_refused(world, editor):
    response = token_client(editor, scope=SERVE).post(filled(PRODUCTION, world), {}, format="json")
    assert response.status_code == 403
    assert "scope is serve" in error_of(response)["message"]


# ---------------------------------------------------------------------------------------------------------
# read: every GET, no change


@pytest.mark.parametrize("url", READS + ["/api/v1/tokens/"])
def test_a_read_token_reads_everything(world, editor, url):
    assert token_client(editor, scope=READ).get(filled(url, world)).status_code == 200


@pytest.mark.parametrize(("method", "url", "body"), WRITES + [("delete", "/api/v1/tokens/{token}/", None)])
def test_a_read_token_of_an_approver_changes_nothing(world, approver, method, url, body):
    world = world | {"token": ApiToken.issue(user=approver, name="kept")[0].pk}
    before = snapshot()
    response = call(token_client(approver, scope=READ), method, filled(url, world), body_of(body, world))
    assert response.status_code == 403, response.content
    assert error_of(response)["message"] == ("This token's scope is read: it may only read (GET). A write token "
                                             "can do this.")
    assert snapshot() == before
    assert ApiToken.objects.get(name="kept").is_active


# ---------------------------------------------------------------------------------------------------------
# write: what the owner's roles allow


def test_a_write_token_does_what_its_owners_role_allows(world, editor, approver):
    base = f"/api/v1/prompts/{world['prompt']}/versions"
    made = token_client(editor, scope=WRITE).post(f"{base}/", {"system_prompt": "Mine."}, format="json")
    assert made.status_code == 201, made.content
    number = made.json()["number"]
    editor_token = token_client(editor, scope=WRITE)
    assert editor_token.post(f"{base}/{number}/request-review/", {}, format="json").status_code == 200
    refused = editor_token.post(f"{base}/{number}/approve/", {}, format="json")
    assert refused.status_code == 403 and "scope" not in error_of(refused)["message"]  # the role's refusal
    assert token_client(approver, scope=WRITE).post(f"{base}/{number}/approve/", {}, format="json").status_code == 200


# ---------------------------------------------------------------------------------------------------------
# Expiry


@pytest.mark.parametrize("scope", [SERVE, READ, WRITE])
def test_an_expired_token_is_refused_saying_it_expired(world, editor, scope):
    client = token_client(editor, scope=scope, expires_at=timezone.now() + timedelta(hours=1))
    url = filled(PRODUCTION, world)
    assert client.get(url).status_code == 200
    token = ApiToken.objects.get(user=editor)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    for path in (url, "/api/v1/teams/"):
        response = client.get(path)
        assert response.status_code == 401
        error = error_of(response)
        assert error["code"] == "authentication_failed"
        assert re.fullmatch(r"This token expired at \d{4}-\d\d-\d\d \d\d:\d\d UTC: make a new one\.", error["message"])
    token.refresh_from_db()
    assert not token.is_active and token.revoked_at is None


def test_a_revoked_token_that_also_expired_is_called_revoked(world, editor):
    client = token_client(editor, expires_at=timezone.now() + timedelta(hours=1))
    token = ApiToken.objects.get(user=editor)
    token.revoke()
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert error_of(client.get("/api/v1/teams/"))["message"] == "Invalid or revoked token."


def test_the_quick_path_finds_no_expired_token(db):
    from optimization.api import production

    token, key = ApiToken.issue(user=_someone(), name="app", expires_at=timezone.now() + timedelta(minutes=1))
    assert production.production_rows_for_key(key_hash=ApiToken.hash(key), name="x") == []  # no team: no row
    from promptopt.teams.models import Membership, Team

    Membership.objects.create(team=Team.objects.create(name="T"), user=token.user)
    rows = production.production_rows_for_key(key_hash=ApiToken.hash(key), name="x")
    assert [(row["token_id"], row["token_scope"]) for row in rows] == [(token.pk, SERVE)]
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(microseconds=1))
    assert production.production_rows_for_key(key_hash=ApiToken.hash(key), name="x") == []


def _someone():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("app-owner")


# ---------------------------------------------------------------------------------------------------------
# Made with a scope and an expiry: the API, the page and the admin


def api_session(user):
    from tests.test_api import session_client_with_csrf

    return session_client_with_csrf(user)


def test_the_api_makes_a_serve_token_unless_told(editor):
    client = api_session(editor)
    made = client.post("/api/v1/tokens/", {"name": "checkout"}, format="json")
    assert made.status_code == 201 and made["Cache-Control"] == "no-store"
    assert (made.json()["scope"], made.json()["expires_at"]) == ("serve", None)
    expires = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    made = client.post("/api/v1/tokens/", {"name": "nightly", "scope": "read", "expires_at": expires.isoformat()},
                       format="json")
    assert made.status_code == 201
    listed = {token["name"]: token for token in client.get("/api/v1/tokens/").json()["results"]}
    assert (listed["nightly"]["scope"], listed["nightly"]["active"]) == ("read", True)
    assert listed["nightly"]["expires_at"] == expires.isoformat().replace("+00:00", "Z")
    assert "key" not in listed["nightly"]


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"scope": "admin"}, "scope", "is not a valid choice"),
    ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at", "must be in the future"),
    ({"expires_at": "next week"}, "expires_at", "Datetime has wrong format"),
])
def test_the_api_refuses_a_bad_scope_or_expiry_naming_the_field(editor, body, field, words):
    response = api_session(editor).post("/api/v1/tokens/", {"name": "x"} | body, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid" and field in error["details"] and words in error["message"]
    assert not ApiToken.objects.exists()


def test_an_expiry_must_lie_ahead_at_every_door(editor):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="must be in the future"):
        ApiToken.issue(user=editor, name="late", expires_at=timezone.now())
    with pytest.raises(ValidationError, match="is not a scope"):
        ApiToken.issue(user=editor, name="odd", scope="admin")
    assert not ApiToken.objects.exists()


@pytest.mark.urls("promptopt.urls")
def test_the_tokens_page_makes_a_scoped_expiring_token_and_lists_both(editor):
    client = Client()
    client.force_login(editor)
    form = client.get("/tokens/").content.decode()
    assert re.search(r'<option value="serve" selected>', form)  # least privilege first
    once = re.search(r'name="once" value="([^"]+)"', form).group(1)
    response = client.post("/tokens/", {"name": "reports", "scope": "read", "expires_in": "30", "once": once})
    assert response["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user=editor)
    assert token.scope == READ
    assert timedelta(days=29, hours=23) < token.expires_at - timezone.now() <= timedelta(days=30)
    shown = response.content.decode()
    assert "Scope <strong>read</strong>" in shown and f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" in shown
    listed = client.get("/tokens/").content.decode()
    assert "<td>read</td>" in listed and f"<td>{token.expires_at:%Y-%m-%d %H:%M}</td>" in listed
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert "expired</span>" in client.get("/tokens/").content.decode()


@pytest.mark.urls("promptopt.urls")
def test_the_tokens_page_refuses_an_unknown_scope(editor):
    client = Client()
    client.force_login(editor)
    response = client.post("/tokens/", {"name": "x", "scope": "admin", "expires_in": ""})
    assert "Select a valid choice" in response.content.decode()
    assert not ApiToken.objects.exists()


@pytest.mark.urls("promptopt.urls")
def test_the_admin_makes_a_token_with_a_scope_and_an_expiry_then_shows_them_read_only(admin_client, admin_user):
    expires = timezone.now() + timedelta(days=7)
    admin_client.post("/admin/promptopt/apitoken/add/", {
        "user": admin_user.pk, "name": "deploy", "scope": "write",
        "expires_at_0": f"{expires:%Y-%m-%d}", "expires_at_1": f"{expires:%H:%M:%S}",
    })
    token = ApiToken.objects.get()
    assert token.scope == WRITE and abs(token.expires_at - expires) < timedelta(seconds=1)
    listed = admin_client.get("/admin/promptopt/apitoken/").content.decode()
    assert "deploy" in listed and "write" in listed
    page = admin_client.get(f"/admin/promptopt/apitoken/{token.pk}/change/").content.decode()
    assert 'name="scope"' not in page and 'name="expires_at_0"' not in page  # chosen once, when it was made
    past = timezone.now() - timedelta(days=1)
    admin_client.post("/admin/promptopt/apitoken/add/", {
        "user": admin_user.pk, "name": "late", "scope": "read",
        "expires_at_0": f"{past:%Y-%m-%d}", "expires_at_1": f"{past:%H:%M:%S}",
    })
    assert not ApiToken.objects.filter(name="late").exists()


# ---------------------------------------------------------------------------------------------------------
# Tokens made before scopes existed keep working


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_existing_tokens_the_write_scope():
    executor = MigrationExecutor(connection)
    before = [("promptopt", "0002_api_tokens")]
    latest = executor.loader.graph.leaf_nodes()  # every app's: going back also unapplied the apps that need 0003
    executor.migrate(before)
    old = MigrationExecutor(connection).loader.project_state(before).apps
    user = old.get_model("auth", "User").objects.create(username="old-timer")
    old.get_model("promptopt", "ApiToken").objects.create(user_id=user.pk, name="legacy", prefix="po_x",
                                                          key_hash="h" * 64)
    executor = MigrationExecutor(connection)
    executor.migrate(latest)
    token = ApiToken.objects.get(name="legacy")
    assert (token.scope, token.expires_at) == (WRITE, None)
    assert ApiToken.issue(user=token.user, name="new")[0].scope == SERVE
