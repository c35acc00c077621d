"""The Python client (clients/python) against the real server: revalidation, the copy on disk, a server that is
down or slow, a prompt taken out of production, and the same rendering as the server's."""

import subprocess
import sys
import threading
import time

import pytest
from promptopt_client import PromptClient, PromptNotFound, PromptOptError, ServerUnavailable, render_messages

from optimization.models import Prompt, PromptVersion
from optimization.prompting import messages_for
from optimization.reviews import review_approve, review_request, version_rollback
from optimization.rollouts.models import Outcome, in_canary
from optimization.rollouts.services import canary_start
from promptopt.teams.models import ApiToken
from tests.app_server import AppServer
from tests.support.api import isolate, new_version, ship

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    isolate(settings, tmp_path)


@pytest.fixture
def server(settings, tmp_path):
    app = AppServer(settings).start()
    yield app
    app.kill()


@pytest.fixture
def prompt(team):
    return Prompt.objects.create(team=team, name="ticket triage")


@pytest.fixture
def key(editor):
    return ApiToken.issue(user=editor, name="app", scope=ApiToken.Scope.SERVE)[1]


def client_of(server, key, tmp_path, **options):
    return PromptClient(server.url, key, cache_dir=tmp_path / "prompt-cache", timeout=10, **options)


def test_it_serves_production_and_a_stale_copy_when_the_server_is_killed(server, prompt, editor, approver, key,
                                                                         tmp_path):
    first = ship(new_version(prompt, editor, "Route the ticket."), editor, approver)
    client = client_of(server, key, tmp_path, ttl=0.2)
    fetched = client.get("ticket triage")
    assert (fetched.version, fetched.system_prompt, fetched.stale) == (first.number, "Route the ticket.", False)
    assert fetched.etag.startswith('"')

    server.kill()
    time.sleep(0.3)  # past the TTL: the client asks, nobody answers
    served = client.get("ticket triage")
    assert served.stale and served.version == first.number and served.system_prompt == "Route the ticket."

    # Another process of the same application, started after the server died, answers from the copy on disk.
    script = (
        "import sys; from promptopt_client import PromptClient; "
        "p = PromptClient(sys.argv[1], sys.argv[2], cache_dir=sys.argv[3], ttl=0.2, timeout=1).get('ticket triage'); "
        "print(p.version, p.stale)"
    )
    out = subprocess.run([sys.executable, "-c", script, server.url, key, str(tmp_path / "prompt-cache")],
                         capture_output=True, text=True, timeout=30, check=True).stdout.split()
    assert out == [str(first.number), "True"]


def test_after_a_rollback_it_serves_the_new_production_version_within_its_ttl(server, prompt, editor, approver, key,
                                                                              tmp_path):
    first = ship(new_version(prompt, editor, "First."), editor, approver)
    second = ship(new_version(prompt, editor, "Second."), editor, approver)
    client = client_of(server, key, tmp_path, ttl=1.0)
    assert client.get("ticket triage").version == second.number
    version_rollback(version=PromptVersion.objects.get(pk=first.pk), by=approver)
    rolled_back_at = time.monotonic()
    assert client.get("ticket triage").version == second.number  # within the TTL: memory, no request
    while client.get("ticket triage").version != first.number:
        assert time.monotonic() - rolled_back_at < 1.0 + 2.5, "the rollback did not show within the TTL"
        time.sleep(0.05)
    assert client.get("ticket triage").system_prompt == "First."


def test_a_304_keeps_the_copy_and_a_prompt_taken_out_of_production_is_dropped(server, prompt, editor, approver,
                                                                              key, tmp_path):
    ship(new_version(prompt, editor, "Route the ticket."), editor, approver)
    client = client_of(server, key, tmp_path, ttl=0)
    first = client.get("ticket triage")
    again = client.get("ticket triage")  # revalidated: a 304, the same copy, confirmed later
    assert again.etag == first.etag and again.checked_at > first.checked_at and not again.stale
    assert list((tmp_path / "prompt-cache").glob("*.json"))

    prompt.name = "renamed"  # the name the application asks for no longer exists
    prompt.save()
    with pytest.raises(PromptNotFound, match="no prompt named 'ticket triage'"):
        client.get("ticket triage")
    assert not list((tmp_path / "prompt-cache").glob("*.json"))  # not served on from the disk either
    server.kill()
    with pytest.raises(ServerUnavailable):  # and with the server down there is nothing to serve
        client.get("ticket triage")


def test_a_server_slower_than_the_timeout_gets_the_stale_copy(server, prompt, editor, approver, key, tmp_path):
    ship(new_version(prompt, editor, "Route the ticket."), editor, approver)
    client = client_of(server, key, tmp_path, ttl=0)
    client.get("ticket triage")  # with the usual timeout: a server's first answer may take a while
    client.timeout = 0.5
    server.pause()  # the kernel still accepts connections; nobody answers them
    try:
        started = time.monotonic()
        served = client.get("ticket triage")
        waited = time.monotonic() - started
    finally:
        server.resume()
    assert served.stale and served.system_prompt == "Route the ticket." and waited < 2


def test_threads_share_one_copy(server, prompt, editor, approver, key, tmp_path):
    shipped = ship(new_version(prompt, editor, "Route the ticket."), editor, approver)
    client = client_of(server, key, tmp_path, ttl=30)
    versions, errors = [], []

    def fetch():
        try:
            versions.append(client.get("ticket triage").version)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=fetch) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and versions == [shipped.number] * 16


def test_background_refresh_picks_up_a_promotion_without_a_get_asking(server, prompt, editor, approver, key,
                                                                      tmp_path):
    ship(new_version(prompt, editor, "First."), editor, approver)
    with client_of(server, key, tmp_path, ttl=0.3, background_refresh=True) as client:
        client.get("ticket triage")
        second = ship(new_version(prompt, editor, "Second."), editor, approver)
        deadline = time.monotonic() + 5
        while client._memory["ticket triage"].version != second.number:
            assert time.monotonic() < deadline, "the background refresh did not pick up the promotion"
            time.sleep(0.05)


def test_it_renders_messages_as_the_server_does(prompt, editor):
    demonstrations = [{"input": "Charged twice {sic}", "output": "billing"}, {"input": "Lost", "output": "shipping"}]
    for system, instruction in [("Triage.", "Ticket: {input}\nTeam:"), ("", "Answer with one word."),
                                ("  ", "{input} {input}")]:
        version = PromptVersion.objects.create(prompt=prompt, system_prompt=system, output_instruction=instruction,
                                               demonstrations=demonstrations, created_by=editor)
        assert render_messages(system, instruction, demonstrations, "New {x} ticket") == messages_for(
            version, "New {x} ticket")


def test_a_refusal_is_an_error_with_the_servers_message(server, prompt, editor, approver, tmp_path):
    ship(new_version(prompt, editor, "Route the ticket."), editor, approver)
    with pytest.raises(PromptOptError) as refused:
        client_of(server, "po_not-a-token", tmp_path).get("ticket triage")
    assert refused.value.status == 401 and "token" in str(refused.value).lower()


def test_during_a_canary_each_subject_keeps_its_version_and_outcomes_are_reported(server, prompt, editor, approver,
                                                                                   key, tmp_path):
    production = ship(new_version(prompt, editor, "Production."), editor, approver)
    tried = new_version(prompt, editor, "Canary.")
    review_request(version=tried, by=editor)
    review_approve(version=tried, by=approver)
    canary = canary_start(version=tried, share=40, by=approver)
    client = client_of(server, key, tmp_path, ttl=60)
    got = {f"user-{n}": client.get("ticket triage", subject=f"user-{n}") for n in range(200)}
    for subject, prompt_served in got.items():  # decided locally, as the server decides it
        expected = tried if in_canary(canary.salt, subject, 40) else production
        assert (prompt_served.version, prompt_served.system_prompt) == (expected.number, expected.system_prompt)
        assert client.get("ticket triage", subject=subject).version == prompt_served.version
    assert client.get("ticket triage").version == production.number  # no subject: production
    client.report("ticket triage", "user-1", got["user-1"].version, 1)
    with pytest.raises(PromptOptError, match="report the version the subject was served"):
        client.report("ticket triage", "user-1", 999, 1)
    assert Outcome.objects.get().subject == "user-1"
