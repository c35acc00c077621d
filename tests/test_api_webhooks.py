"""Webhooks over the API: the same services as the pages. Members read endpoints and their delivery logs;
approvers register, change, rotate and delete them and alone see a secret; another team's are 404s."""

import pytest

from optimization.models import Prompt
from optimization.webhooks.models import Delivery, Endpoint, Event
from optimization.webhooks.services import attempt, endpoint_create
from promptopt.teams.models import ApiToken
from tests.support.api import API_URLS, error_of, isolate, new_version, ship, token_client

pytestmark = API_URLS

HOOK = "http://127.0.0.1:9/hook"  # nothing listens there: an attempt fails and is logged


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    isolate(settings, tmp_path)
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True


def test_an_approver_registers_changes_rotates_and_deletes_an_endpoint(team, approver):
    api = token_client(approver)
    created = api.post("/api/v1/webhooks/", {"team": team.pk, "url": HOOK, "events": [Event.PROMOTED]},
                       format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    endpoint = Endpoint.objects.get()
    assert (body["id"], body["secret"], body["events"], body["active"]) == (endpoint.pk, endpoint.secret,
                                                                            ["version.promoted"], True)

    changed = api.patch(f"/api/v1/webhooks/{endpoint.pk}/", {"active": False, "events": [Event.RUN_FAILED]},
                        format="json")
    assert changed.status_code == 200 and (changed.json()["active"], changed.json()["events"]) == (
        False, ["run.failed"])

    rotated = api.post(f"/api/v1/webhooks/{endpoint.pk}/rotate-secret/")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in (None, endpoint.secret) and rotated.json()["previous_secret_until"]
    assert Endpoint.objects.get().previous_secret == endpoint.secret

    assert api.delete(f"/api/v1/webhooks/{endpoint.pk}/").status_code == 204
    assert not Endpoint.objects.exists()


def test_a_url_the_rules_refuse_is_a_400_that_says_why(team, approver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    refused = token_client(approver).post("/api/v1/webhooks/", {"team": team.pk, "url": HOOK,
                                                                "events": [Event.PROMOTED]}, format="json")
    assert refused.status_code == 400 and "loopback, private or reserved" in error_of(refused)["message"]
    unknown = token_client(approver).post("/api/v1/webhooks/", {"team": team.pk, "url": "https://example.com/",
                                                                "events": ["version.eaten"]}, format="json")
    assert unknown.status_code == 400 and not Endpoint.objects.exists()


def test_members_read_without_the_secret_and_change_nothing(team, editor, approver, stranger):
    endpoint = endpoint_create(team=team, url=HOOK, events=[Event.PROMOTED], by=approver)
    as_editor = token_client(editor)
    listed = as_editor.get("/api/v1/webhooks/").json()["results"]
    assert [(e["id"], e["secret"]) for e in listed] == [(endpoint.pk, None)]
    assert as_editor.get(f"/api/v1/webhooks/{endpoint.pk}/").json()["secret"] is None
    assert as_editor.patch(f"/api/v1/webhooks/{endpoint.pk}/", {"active": False}, format="json").status_code == 403
    assert as_editor.post(f"/api/v1/webhooks/{endpoint.pk}/rotate-secret/").status_code == 403
    assert as_editor.delete(f"/api/v1/webhooks/{endpoint.pk}/").status_code == 403
    assert Endpoint.objects.get().secret == endpoint.secret and Endpoint.objects.get().active

    outsider = token_client(stranger)
    assert outsider.get(f"/api/v1/webhooks/{endpoint.pk}/").status_code == 404
    assert outsider.get("/api/v1/webhooks/").json()["results"] == []
    read_only = token_client(approver, scope=ApiToken.Scope.READ)
    assert read_only.post(f"/api/v1/webhooks/{endpoint.pk}/rotate-secret/").status_code == 403


def test_the_delivery_log_and_sending_a_failed_delivery_again(team, editor, approver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    endpoint = endpoint_create(team=team, url=HOOK, events=[Event.PROMOTED], by=approver)
    ship(new_version(Prompt.objects.create(team=team, name="triage"), editor, "One."), editor, approver)
    delivery = attempt(Delivery.objects.get().pk)
    assert delivery.status == "failed"

    log = token_client(editor).get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/").json()["results"]
    assert [(d["id"], d["event"], d["status"], d["attempts"]) for d in log] == [
        (str(delivery.pk), "version.promoted", "failed", 1)]
    retry = f"/api/v1/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/retry/"
    assert token_client(editor).post(retry).status_code == 403
    again = token_client(approver).post(retry)
    assert again.status_code == 202 and again.json()["status"] == "retrying"
    twice = token_client(approver).post(retry)
    assert twice.status_code == 400 and "only a failed one" in error_of(twice)["message"]
    missing = f"/api/v1/webhooks/{endpoint.pk}/deliveries/00000000-0000-0000-0000-000000000000/retry/"
    assert token_client(approver).post(missing).status_code == 404
