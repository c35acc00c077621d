"""The API tokens page: a person makes a token, sees its key once, and revokes it; nobody touches another's."""

import re

import pytest
from django.test import Client

from promptopt.teams.models import ApiToken
from tests.support.api import isolate


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    isolate(settings, tmp_path)


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def made(client, name="checkout service", **fields):
    once = re.search(r'name="once" value="([^"]+)"', client.get("/tokens/").content.decode()).group(1)
    response = client.post("/tokens/", {"name": name, "once": once, "scope": "serve", **fields})
    assert response.status_code == 200
    return re.search(r'<code id="new-key">(po_[^<]+)</code>', response.content.decode()).group(1), response


def test_a_new_tokens_key_is_shown_once_and_only_its_hash_is_kept(editor):
    client = signed_in(editor)
    key, response = made(client)
    assert response["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user=editor)
    assert token.key_hash == ApiToken.hash(key) and key not in {token.key_hash, token.prefix}
    listed = client.get("/tokens/").content.decode()
    assert "checkout service" in listed and token.prefix in listed and key not in listed


def test_the_key_works_on_the_api_until_revoked(editor):
    client = signed_in(editor)
    key, _ = made(client, scope="read")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/teams/").status_code == 200
    token = ApiToken.objects.get(user=editor)
    response = client.post(f"/tokens/{token.pk}/revoke/", follow=True)
    assert "is revoked" in response.content.decode()
    assert api.get("/api/v1/teams/").status_code == 401
    assert "revoked" in client.get("/tokens/").content.decode()


def test_nobody_sees_or_revokes_anothers_token(editor, stranger):
    token, _ = ApiToken.issue(user=editor, name="release pipeline")
    client = signed_in(stranger)
    made(client, "nightly report")
    page = client.get("/tokens/").content.decode()
    assert "nightly report" in page and "release pipeline" not in page
    assert client.post(f"/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.is_active


def test_a_name_is_required(editor):
    response = signed_in(editor).post("/tokens/", {"name": " "})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("method, url", [("get", "/tokens/"), ("post", "/tokens/"), ("post", "/tokens/1/revoke/")])
def test_signing_in_comes_first(db, method, url):
    response = getattr(Client(), method)(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not ApiToken.objects.exists()


def test_revoking_is_a_post(editor):
    token, _ = ApiToken.issue(user=editor, name="kept")
    assert signed_in(editor).get(f"/tokens/{token.pk}/revoke/").status_code == 405
    token.refresh_from_db()
    assert token.is_active


def test_sending_the_same_form_again_makes_no_second_token(editor):
    client = signed_in(editor)
    once = re.search(r'name="once" value="([^"]+)"', client.get("/tokens/").content.decode()).group(1)
    form = {"name": "ci", "once": once, "scope": "serve"}
    first = client.post("/tokens/", form)
    assert 'id="new-key"' in first.content.decode()
    again = client.post("/tokens/", form).content.decode()  # the browser's reload
    assert 'id="new-key"' not in again and "Nothing new was made" in again
    assert ApiToken.objects.filter(user=editor).count() == 1
    made(client, "ci 2")  # a new form makes a new token
    assert ApiToken.objects.filter(user=editor).count() == 2
