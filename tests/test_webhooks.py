"""Signed webhooks: a team's endpoints, events emitted on commit by the transitions, deliveries signed, retried
with backoff and logged; the client package verifies them."""

import json
import os
import signal
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from django_q.models import Schedule
from promptopt_client import InvalidSignature, verify_webhook

from optimization import loop
from optimization.models import Prompt
from optimization.reviews import review_request, version_rollback
from optimization.webhooks.models import Delivery, Endpoint, Event
from optimization.webhooks.services import attempt, endpoint_create, resend_due_deliveries
from promptopt.errors import NotAllowed, PromptOptError
from tests.loopback.webhook_receiver import WebhookReceiver
from tests.support.api import isolate, new_version, ship
from tests.test_loop import run_to_the_end, start_run, student  # noqa: F401 - student is a fixture
from tests.test_worker import _database_url, _start_worker, _wait


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    isolate(settings, tmp_path)


@pytest.fixture
def loopback_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # the receiver is on 127.0.0.1


@pytest.fixture
def prompt(team):
    return Prompt.objects.create(team=team, name="ticket triage")


def test_a_signed_delivery_arrives_is_verified_by_the_client_and_is_retried_after_a_500(
        loopback_allowed, team, prompt, editor, approver, django_capture_on_commit_callbacks):
    with WebhookReceiver(answers=[500, 200]) as receiver:
        endpoint = endpoint_create(team=team, url=receiver.hook_url, events=[Event.PROMOTED], by=approver)
        with django_capture_on_commit_callbacks() as queued:
            version = ship(new_version(prompt, editor, "Route the ticket."), editor, approver)
        delivery = Delivery.objects.get()  # one event subscribed to: the promotion, not the review steps
        assert (delivery.event, delivery.status, delivery.endpoint) == ("version.promoted", "pending", endpoint)
        assert len(queued) == 1  # queued for the worker once the promotion committed

        first = attempt(delivery.pk)
        assert (first.status, first.attempts, first.last_status_code) == ("retrying", 1, 500)
        assert "receiver broke" in first.last_error
        assert first.next_attempt_at > timezone.now()  # the backoff
        assert Schedule.objects.filter(func="optimization.webhooks.services.attempt",
                                       args__contains=str(delivery.pk)).exists()
        assert attempt(delivery.pk).attempts == 1  # not due yet: a second task does nothing

        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        second = attempt(delivery.pk)
        assert (second.status, second.attempts, second.last_status_code) == ("delivered", 2, 200)
        assert attempt(delivery.pk).attempts == 2  # delivered: never sent again

    assert len(receiver.received) == 2
    events = [verify_webhook(endpoint.secret, headers, body) for headers, body in receiver.received]
    assert events[0] == events[1]  # the same body and idempotency id in every attempt
    assert events[0]["id"] == str(delivery.pk) == receiver.received[1][0]["X-PromptOpt-Delivery"]
    assert events[0]["event"] == "version.promoted"
    assert events[0]["data"]["version"] == version.number and events[0]["data"]["actor"] == approver.username
    headers, body = receiver.received[1]
    with pytest.raises(InvalidSignature):
        verify_webhook("whsec_another", headers, body)
    with pytest.raises(InvalidSignature):
        verify_webhook(endpoint.secret, headers, body.replace(b"ticket", b"Ticket"))
    with pytest.raises(InvalidSignature, match="ago"):
        verify_webhook(endpoint.secret, headers, body, now=int(headers["X-PromptOpt-Timestamp"]) + 3600)


def test_each_transition_sends_its_event_only_to_endpoints_that_subscribed(loopback_allowed, team, other_team,
                                                                         prompt, editor, approver, stranger):
    everything = endpoint_create(team=team, url="http://127.0.0.1:9/a", events=Event.values, by=approver)
    endpoint_create(team=team, url="http://127.0.0.1:9/b", events=[Event.ROLLED_BACK], by=approver)
    endpoint_create(team=other_team, url="http://127.0.0.1:9/c", events=Event.values, by=stranger)
    first = ship(new_version(prompt, editor, "One."), editor, approver)
    ship(new_version(prompt, editor, "Two."), editor, approver)
    version_rollback(version=first, by=approver)
    sent = list(Delivery.objects.filter(endpoint=everything).order_by("created_at").values_list("event", flat=True))
    assert sent == ["version.review_requested", "version.approved", "version.promoted"] * 2 + ["version.rolled_back"]
    assert list(Delivery.objects.exclude(endpoint=everything).values_list("event", flat=True)) == [
        "version.rolled_back"]  # the other team's endpoint heard nothing


def test_a_refused_transition_sends_nothing(loopback_allowed, team, prompt, editor, approver):
    endpoint_create(team=team, url="http://127.0.0.1:9/a", events=Event.values, by=approver)
    version = new_version(prompt, editor, "One.")
    review_request(version=version, by=editor)
    with pytest.raises(PromptOptError):
        review_request(version=version, by=editor)  # already in review
    assert Delivery.objects.count() == 1


def test_only_public_http_targets_unless_the_setting_allows_others(team, approver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    for url in ["http://127.0.0.1:8000/hook", "http://localhost/hook", "https://10.0.0.5/hook",
                "http://169.254.169.254/latest/meta-data/", "http://[::1]/hook", "http://192.168.1.2/"]:
        with pytest.raises(PromptOptError, match="loopback, private or reserved"):
            endpoint_create(team=team, url=url, events=[Event.PROMOTED], by=approver)
    for url in ["ftp://example.com/hook", "file:///etc/passwd", "javascript:alert(1)", "http://user:pw@x.com/"]:
        with pytest.raises(PromptOptError):
            endpoint_create(team=team, url=url, events=[Event.PROMOTED], by=approver)
    assert not Endpoint.objects.exists()
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    assert endpoint_create(team=team, url="http://127.0.0.1:8000/hook", events=[Event.PROMOTED], by=approver)


def test_a_target_that_turned_private_is_not_sent_to(team, prompt, editor, approver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    endpoint_create(team=team, url="http://127.0.0.1:9/hook", events=[Event.PROMOTED], by=approver)
    ship(new_version(prompt, editor, "One."), editor, approver)
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    delivery = attempt(Delivery.objects.get().pk)
    assert delivery.status == "retrying" and "private" in delivery.last_error and delivery.last_status_code is None


def test_a_name_that_turns_private_after_the_check_is_not_connected_to(team, prompt, editor, approver, settings,
                                                                        monkeypatch):
    """DNS rebinding: the name resolves to a public address when the delivery checks it and to loopback a moment
    later, when the connection is made. The delivery goes to the address it checked."""
    import socket

    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    resolve, connect = socket.getaddrinfo, socket.create_connection
    resolutions, connections = [], []

    def rebinding(host, port, *args, **kwargs):
        if host != "rebinding.example":
            return resolve(host, port, *args, **kwargs)
        resolutions.append(host)
        address = "8.8.8.8" if len(resolutions) <= 2 else "127.0.0.1"  # registering, checking; then loopback
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    def recorded(address, *args, **kwargs):
        connections.append(address)
        if address[0] == "8.8.8.8":
            raise ConnectionRefusedError("refused (no outside network in the tests)")
        return connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(socket, "create_connection", recorded)
    with WebhookReceiver() as receiver:
        url = receiver.hook_url.replace("127.0.0.1", "rebinding.example")
        endpoint_create(team=team, url=url, events=[Event.PROMOTED], by=approver)
        ship(new_version(prompt, editor, "One."), editor, approver)
        delivery = attempt(Delivery.objects.get().pk)

    assert receiver.received == []
    assert [host for host, _ in connections] == ["8.8.8.8"]
    assert delivery.status == "retrying" and "refused" in delivery.last_error


def test_it_gives_up_after_the_last_attempt(loopback_allowed, team, prompt, editor, approver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS, settings.WEBHOOK_RETRY_SECONDS = 2, 0
    with WebhookReceiver(answers=[503]) as receiver:
        endpoint_create(team=team, url=receiver.hook_url, events=[Event.PROMOTED], by=approver)
        ship(new_version(prompt, editor, "One."), editor, approver)
        delivery = Delivery.objects.get()
        assert attempt(delivery.pk).status == "retrying"
        assert attempt(delivery.pk).status == "failed"
        assert attempt(delivery.pk).attempts == 2
    assert len(receiver.received) == 2


def test_only_approvers_register_endpoints_and_events_are_checked(loopback_allowed, team, editor, approver):
    with pytest.raises(NotAllowed):
        endpoint_create(team=team, url="http://127.0.0.1:9/", events=[Event.PROMOTED], by=editor)
    with pytest.raises(PromptOptError, match="Unknown events: version.deleted"):
        endpoint_create(team=team, url="http://127.0.0.1:9/", events=["version.deleted"], by=approver)
    with pytest.raises(PromptOptError, match="at least one event"):
        endpoint_create(team=team, url="http://127.0.0.1:9/", events=[], by=approver)


def test_the_body_is_json_with_the_team_and_the_event(loopback_allowed, team, prompt, editor, approver):
    endpoint_create(team=team, url="http://127.0.0.1:9/", events=[Event.REVIEW_REQUESTED], by=approver)
    review_request(version=new_version(prompt, editor, "One."), by=editor, comment="Please look.")
    body = json.loads(Delivery.objects.get().body)
    assert body["team"] == {"id": team.pk, "name": team.name}
    assert body["data"]["comment"] == "Please look." and body["data"]["status"] == "in_review"


def test_a_run_that_finishes_or_fails_sends_its_event_once(loopback_allowed, team, dataset, approver,
                                                           student):  # noqa: F811 - the fixture imported above
    endpoint_create(team=team, url="http://127.0.0.1:9/", events=[Event.RUN_FINISHED, Event.RUN_FAILED],
                    by=approver)
    finished = run_to_the_end(start_run(dataset, max_iterations=1))
    assert loop.run_next_step(finished.pk) is False  # a step asked again after the end sends nothing more
    student.always = 401
    failed = run_to_the_end(start_run(dataset, prompt_name="failing", use_cache=False))
    bodies = [json.loads(body) for body in Delivery.objects.order_by("created_at").values_list("body", flat=True)]
    assert [(b["event"], b["data"]["run"]) for b in bodies] == [("run.finished", finished.pk),
                                                                ("run.failed", failed.pk)]
    assert bodies[0]["data"]["test_delta"] == finished.test_delta and bodies[0]["data"]["p_value"] is not None
    assert "Incorrect API key" in bodies[1]["data"]["last_error"]


def test_the_pages_register_an_endpoint_and_show_its_delivery_log(loopback_allowed, team, prompt, editor, approver,
                                                                   stranger):
    page = Client()
    page.force_login(approver)
    answer = page.post("/webhooks/", {"url": "http://127.0.0.1:9/hook", "team": team.pk,
                                      "events": [Event.PROMOTED], "description": "Deploy bot"})
    endpoint = Endpoint.objects.get()
    assert answer.status_code == 302 and answer["Location"] == f"/webhooks/{endpoint.pk}/"
    assert (endpoint.created_by, endpoint.events) == (approver, ["version.promoted"])
    ship(new_version(prompt, editor, "One."), editor, approver)
    # Nothing listens on port 9: the attempt fails and is logged.
    delivery = attempt(Delivery.objects.get().pk)
    shown = page.get(f"/webhooks/{endpoint.pk}/").content.decode()
    assert endpoint.secret in shown and "version.promoted" in shown and str(delivery.pk) in shown
    assert ">retrying<" in shown

    as_editor = Client()
    as_editor.force_login(editor)
    seen = as_editor.get(f"/webhooks/{endpoint.pk}/").content.decode()
    assert str(delivery.pk) in seen and endpoint.secret not in seen  # members read the log; approvers hold the secret
    assert as_editor.post(f"/webhooks/{endpoint.pk}/off/").status_code == 403
    outsider = Client()
    outsider.force_login(stranger)
    assert outsider.get(f"/webhooks/{endpoint.pk}/").status_code == 404
    assert "Deploy bot" not in outsider.get("/webhooks/").content.decode()

    assert page.post(f"/webhooks/{endpoint.pk}/off/").status_code == 302
    assert Endpoint.objects.get().active is False
    refused = page.post("/webhooks/", {"url": "ftp://example.com/", "team": team.pk, "events": [Event.PROMOTED]})
    assert refused.status_code == 200 and Endpoint.objects.count() == 1
    assert page.post(f"/webhooks/{endpoint.pk}/retry/", {"delivery": "not-an-id"}).status_code == 404


def test_the_admin_registers_through_the_same_checks(team, editor, approver, settings):
    for user in (editor, approver):
        user.is_staff = True
        user.save()
        user.user_permissions.set(Permission.objects.filter(content_type__app_label="webhooks"))
    admin_page = Client()
    admin_page.force_login(approver)
    form = {"team": team.pk, "url": "http://127.0.0.1:9/hook", "events": [Event.PROMOTED], "description": ""}
    refused = admin_page.post("/admin/webhooks/endpoint/add/", form)
    assert refused.status_code == 200 and "loopback, private or reserved" in refused.content.decode()
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    assert admin_page.post("/admin/webhooks/endpoint/add/", form).status_code == 302
    endpoint = Endpoint.objects.get()
    assert endpoint.created_by == approver and endpoint.secret.startswith("whsec_")
    as_editor = Client()
    as_editor.force_login(editor)
    assert as_editor.post("/admin/webhooks/endpoint/add/", form).status_code == 403
    assert as_editor.get(f"/admin/webhooks/endpoint/{endpoint.pk}/change/").status_code == 200  # reads it
    assert endpoint.secret not in as_editor.get(f"/admin/webhooks/endpoint/{endpoint.pk}/change/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_worker_sends_it_and_its_scheduled_retry(loopback_allowed, team, prompt, editor, approver, settings,
                                                     tmp_path):
    """Through django-q2 for real: queued on commit, the first attempt answered 500, the retry scheduled and sent
    by the worker's scheduler (which looks every 15 s or so)."""
    env = {**os.environ, "DATABASE_URL": _database_url(settings.DATABASES["default"]),
           "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_RETRY_SECONDS": "1"}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    with WebhookReceiver(answers=[500, 200]) as receiver, open(tmp_path / "worker.log", "w") as log:
        endpoint = endpoint_create(team=team, url=receiver.hook_url, events=[Event.PROMOTED], by=approver)
        ship(new_version(prompt, editor, "Route the ticket."), editor, approver)
        worker = _start_worker(env, log)
        try:
            _wait(lambda: Delivery.objects.get().status == "delivered", 90, "the retried delivery")
        except AssertionError:
            log.flush()
            raise AssertionError((tmp_path / "worker.log").read_text()[-3000:]) from None
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    delivery = Delivery.objects.get()
    assert (delivery.attempts, delivery.last_status_code) == (2, 200)
    assert [verify_webhook(endpoint.secret, h, b)["id"] for h, b in receiver.received] == [str(delivery.pk)] * 2


def test_a_delivery_whose_task_was_lost_is_queued_again(loopback_allowed, team, prompt, editor, approver,
                                                        monkeypatch):
    endpoint_create(team=team, url="http://127.0.0.1:9/", events=[Event.PROMOTED], by=approver)
    ship(new_version(prompt, editor, "One."), editor, approver)
    delivery = Delivery.objects.get()
    queued = []
    monkeypatch.setattr("optimization.webhooks.services.queue_attempt",
                        lambda delivery_id, at=None: queued.append(delivery_id))
    assert resend_due_deliveries() == 0  # just made: its own task is on its way
    Delivery.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    assert resend_due_deliveries() == 1 and queued == [delivery.pk]
    Delivery.objects.update(status="delivered")
    assert resend_due_deliveries() == 0  # nothing more to send
    assert Schedule.objects.filter(func="optimization.webhooks.services.resend_due_deliveries", minutes=1).exists()
