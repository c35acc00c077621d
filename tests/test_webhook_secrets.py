"""Rotating a webhook endpoint's secret: the new one signs at once, the old one beside it for the overlap, so a
receiver switches without rejecting a delivery; only the team's approvers rotate it, on the page or in the admin."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from promptopt_client import InvalidSignature, verify_webhook

from optimization.models import Prompt
from optimization.webhooks.models import Delivery, Endpoint, Event
from optimization.webhooks.services import attempt, endpoint_create, endpoint_rotate_secret
from promptopt.errors import NotAllowed
from tests.loopback.webhook_receiver import WebhookReceiver
from tests.support.api import isolate, new_version, ship


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    isolate(settings, tmp_path)
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # the receiver is on 127.0.0.1


@pytest.fixture
def prompt(team):
    return Prompt.objects.create(team=team, name="ticket triage")


def delivered(receiver, endpoint, prompt, editor, approver, text):
    """The headers and body of a promotion delivered to the receiver now."""
    ship(new_version(prompt, editor, text), editor, approver)
    attempt(Delivery.objects.filter(endpoint=endpoint).latest("created_at").pk)
    return receiver.received[-1]


def test_after_a_rotation_deliveries_verify_with_either_secret_until_the_overlap_ends(team, prompt, editor,
                                                                                       approver, settings):
    settings.WEBHOOK_SECRET_OVERLAP_HOURS = 24
    with WebhookReceiver() as receiver:
        endpoint = endpoint_create(team=team, url=receiver.hook_url, events=[Event.PROMOTED], by=approver)
        old = endpoint.secret
        endpoint_rotate_secret(endpoint=endpoint, by=approver)
        new = Endpoint.objects.get().secret
        headers, body = delivered(receiver, endpoint, prompt, editor, approver, "One.")
        assert new != old and verify_webhook(new, headers, body) == verify_webhook(old, headers, body)
        with pytest.raises(InvalidSignature):
            verify_webhook("whsec_someone_else", headers, body)

        Endpoint.objects.filter(pk=endpoint.pk).update(previous_secret_until=timezone.now() - timedelta(seconds=1))
        headers, body = delivered(receiver, endpoint, prompt, editor, approver, "Two.")
        assert verify_webhook(new, headers, body)["event"] == "version.promoted"
        with pytest.raises(InvalidSignature):
            verify_webhook(old, headers, body)  # the overlap is over


def test_only_the_teams_approvers_rotate_it(team, editor, approver, viewer, stranger):
    endpoint = endpoint_create(team=team, url="http://127.0.0.1:9/hook", events=[Event.PROMOTED], by=approver)
    for user in (editor, viewer, stranger):
        with pytest.raises(NotAllowed):
            endpoint_rotate_secret(endpoint=endpoint, by=user)
    assert Endpoint.objects.get().secret == endpoint.secret and not Endpoint.objects.get().previous_secret


def test_the_page_rotates_it_and_says_until_when_the_old_one_signs(team, editor, approver):
    endpoint = endpoint_create(team=team, url="http://127.0.0.1:9/hook", events=[Event.PROMOTED], by=approver)
    as_editor = Client()
    as_editor.force_login(editor)
    assert as_editor.post(f"/webhooks/{endpoint.pk}/rotate/").status_code == 403
    assert Endpoint.objects.get().secret == endpoint.secret

    page = Client()
    page.force_login(approver)
    shown = page.post(f"/webhooks/{endpoint.pk}/rotate/", follow=True).content.decode()
    rotated = Endpoint.objects.get()
    assert rotated.secret != endpoint.secret and rotated.previous_secret == endpoint.secret
    assert rotated.secret in shown and endpoint.secret not in shown
    assert "still signs each delivery" in shown and f"{rotated.previous_secret_until:%Y-%m-%d %H:%M}" in shown


def test_the_admin_rotates_through_the_same_rule(team, editor, approver):
    endpoint = endpoint_create(team=team, url="http://127.0.0.1:9/hook", events=[Event.PROMOTED], by=approver)
    for user in (editor, approver):
        user.is_staff = True
        user.save()
        user.user_permissions.set(Permission.objects.filter(content_type__app_label="webhooks"))
    action = {"action": "rotate_secret", "_selected_action": [endpoint.pk]}

    as_editor = Client()
    as_editor.force_login(editor)
    assert "rotate_secret" not in as_editor.get("/admin/webhooks/endpoint/").content.decode()  # not offered
    as_editor.post("/admin/webhooks/endpoint/", action, follow=True)
    assert Endpoint.objects.get().secret == endpoint.secret

    as_approver = Client()
    as_approver.force_login(approver)
    done = as_approver.post("/admin/webhooks/endpoint/", action, follow=True).content.decode()
    rotated = Endpoint.objects.get()
    assert "a new secret" in done and rotated.previous_secret == endpoint.secret
    assert rotated.secret not in done  # the admin never shows a secret
