"""Canary rollouts: an approved version beside production for a share of subjects, the same version for a
subject every time, outcomes reported by applications, compared on the prompt's page; four eyes to start."""

import random

import pytest
from django.test import Client
from promptopt_client import Prompt as ClientPrompt
from promptopt_client import in_canary as client_in_canary

from optimization.models import Prompt, PromptVersion, VersionStatus
from optimization.reviews import review_approve, review_request, version_promote
from optimization.rollouts.models import Canary, Outcome, in_canary
from optimization.rollouts.services import canary_comparison, canary_promote, canary_start, canary_stop
from promptopt.errors import NotAllowed, PromptOptError
from promptopt.teams.models import ApiToken
from tests.support.api import isolate, new_version, ship, token_client

URL = "/api/v1/prompts/ticket%20triage/production/"
OUTCOMES = "/api/v1/prompts/ticket%20triage/outcomes/"


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    isolate(settings, tmp_path)


@pytest.fixture
def prompt(team):
    return Prompt.objects.create(team=team, name="ticket triage")


@pytest.fixture
def production(prompt, editor, approver):
    return ship(new_version(prompt, editor, "Production text."), editor, approver)


@pytest.fixture
def approved(prompt, production, editor, approver):
    version = new_version(prompt, editor, "Canary text.")
    review_request(version=version, by=editor)
    return review_approve(version=version, by=approver)


def test_1000_subjects_keep_their_version_split_at_the_share_and_their_outcomes_are_compared(
        production, approved, editor, approver, team):
    canary = canary_start(version=approved, share=20, by=approver)
    # A fixed salt keeps the test from failing by chance: with a random one the split of 1,000 subjects misses
    # 20 % by more than 3 points about once in 60 draws (2.4 standard deviations).
    Canary.objects.filter(pk=canary.pk).update(salt="test-salt-0001")
    app = token_client(editor, scope=ApiToken.Scope.SERVE)  # what an application holds
    rng = random.Random(7)
    got = {}
    for number in range(1000):
        subject = f"user-{number}"
        first = app.get(URL, {"subject": subject})
        again = app.get(URL, {"subject": subject})
        assert first.status_code == 200 and again.json()["version"] == first.json()["version"]
        got[subject] = first.json()["version"]
        # The canary's subjects do better here: 70 % good outcomes against production's 50 %.
        good = rng.random() < (0.7 if got[subject] == approved.number else 0.5)
        reported = app.post(OUTCOMES, {"subject": subject, "version": got[subject], "score": int(good)},
                            format="json")
        assert reported.status_code == 201, reported.content
    share = sum(version == approved.number for version in got.values()) / 1000
    assert abs(share - 0.20) <= 0.03
    assert set(got.values()) == {production.number, approved.number}

    result = canary_comparison(Canary.objects.get(pk=canary.pk))
    assert result["canary"]["subjects"] + result["production"]["subjects"] == 1000
    assert result["canary"]["outcomes"] == round(share * 1000)
    assert result["comparison"].delta > 0 and result["comparison"].ci_low < result["comparison"].delta
    assert result["comparison"].p_value < 0.05

    page = Client()
    page.force_login(approver)
    shown = page.get(f"/prompts/{production.prompt_id}/").content.decode()
    assert f"{result['comparison'].delta:.3f}" in shown and "95 % interval" in shown and "Promote v" in shown
    api = token_client(editor, scope=ApiToken.Scope.READ).get(f"/api/v1/prompts/{production.prompt_id}/canary/")
    assert api.json()["canary"]["subjects"] == result["canary"]["subjects"]


def test_a_subject_reported_with_another_version_is_refused(production, approved, editor, approver):
    canary_start(version=approved, share=50, by=approver)
    app = token_client(editor, scope=ApiToken.Scope.SERVE)
    subject = next(f"s{i}" for i in range(100) if in_canary(Canary.objects.get().salt, f"s{i}", 50))
    refused = app.post(OUTCOMES, {"subject": subject, "version": production.number, "score": 1}, format="json")
    assert refused.status_code == 400 and f"gets v{approved.number}" in refused.json()["error"]["message"]
    assert app.post(OUTCOMES, {"subject": subject, "version": approved.number, "score": "x"},
                    format="json").status_code == 400
    assert not Outcome.objects.exists()


def test_the_client_and_the_server_give_a_subject_the_same_version(production, approved, editor, approver):
    canary_start(version=approved, share=30, by=approver)
    salt = Canary.objects.get().salt
    assert all(client_in_canary(salt, f"u{i}", 30) == in_canary(salt, f"u{i}", 30) for i in range(1000))
    app = token_client(editor, scope=ApiToken.Scope.SERVE)
    response = app.get(URL)
    document = response.json()
    assert document["version"] == production.number and document["canary"]["version"] == approved.number
    fetched = ClientPrompt.from_document(document, response["ETag"], 0)
    for i in range(50):
        served = app.get(URL, {"subject": f"u{i}"}).json()
        local = fetched.for_subject(f"u{i}")
        assert (local.version, local.system_prompt) == (served["version"], served["system_prompt"])


def test_starting_a_canary_takes_the_rules_of_a_promotion(prompt, production, approved, editor, approver,
                                                          second_approver):
    with pytest.raises(NotAllowed):
        canary_start(version=approved, share=10, by=editor)  # not an approver
    own = new_version(prompt, second_approver, "Mine.")
    review_request(version=own, by=second_approver)
    review_approve(version=own, by=approver)
    with pytest.raises(NotAllowed, match="you made it"):
        canary_start(version=own, share=10, by=second_approver)
    draft = new_version(prompt, editor, "Draft.", status=VersionStatus.DRAFT)
    with pytest.raises(PromptOptError, match="only an approved version"):
        canary_start(version=draft, share=10, by=approver)
    for share in (0, 51):
        with pytest.raises(PromptOptError, match="1 to 50"):
            canary_start(version=approved, share=share, by=approver)
    canary_start(version=approved, share=10, by=approver)
    with pytest.raises(PromptOptError, match="already has a canary"):
        canary_start(version=own, share=10, by=approver)
    assert approved.audit_entries.filter(action="canary_start").exists()


def test_stop_and_promote_and_a_production_that_changed(prompt, production, approved, editor, approver):
    app = token_client(editor, scope=ApiToken.Scope.SERVE)
    canary = canary_start(version=approved, share=50, by=approver)
    subject = next(f"s{i}" for i in range(100) if in_canary(canary.salt, f"s{i}", 50))
    assert app.get(URL, {"subject": subject}).json()["version"] == approved.number
    canary_stop(canary=canary, by=approver)
    assert app.get(URL, {"subject": subject}).json()["version"] == production.number
    assert "canary" not in app.get(URL).json()

    canary = canary_start(version=approved, share=50, by=approver)
    subject = next(f"s{i}" for i in range(100) if in_canary(canary.salt, f"s{i}", 50))
    other = ship(new_version(prompt, editor, "Another."), editor, approver)  # production changed underneath
    assert app.get(URL, {"subject": subject}).json()["version"] == other.number  # the canary pauses
    version_promote(version=PromptVersion.objects.get(pk=production.pk), by=approver)  # back: it resumes
    assert app.get(URL, {"subject": subject}).json()["version"] == approved.number

    canary_promote(canary=canary, by=approver)
    assert Canary.objects.get(pk=canary.pk).status == Canary.Status.PROMOTED
    assert PromptVersion.objects.get(pk=approved.pk).status == VersionStatus.PRODUCTION
    assert app.get(URL, {"subject": "anyone"}).json()["version"] == approved.number


def test_the_pages_buttons_start_stop_and_promote(prompt, production, approved, editor, approver):
    page = Client()
    page.force_login(approver)
    assert page.post(f"/canaries/{prompt.pk}/start/", {"version": approved.number, "share": 15}).status_code == 302
    assert Canary.objects.get().share == 15
    shown = page.get(f"/prompts/{prompt.pk}/").content.decode()
    assert "Stop the canary" in shown and "No comparison yet" in shown
    as_editor = Client()
    as_editor.force_login(editor)
    assert "Stop the canary" not in as_editor.get(f"/prompts/{prompt.pk}/").content.decode()
    assert as_editor.post(f"/canaries/{prompt.pk}/stop/").status_code == 403
    page.post(f"/canaries/{prompt.pk}/promote/")
    assert PromptVersion.objects.get(pk=approved.pk).status == VersionStatus.PRODUCTION
    refused = page.post(f"/canaries/{prompt.pk}/start/", {"version": "x", "share": 15}, follow=True)
    assert "Choose an approved version" in refused.content.decode()


def test_the_quick_path_serves_a_subject_in_one_query(production, approved, editor, approver,
                                                      django_assert_num_queries):
    canary = canary_start(version=approved, share=50, by=approver)
    app = token_client(editor, scope=ApiToken.Scope.SERVE)
    subjects = [f"s{i}" for i in range(40)]
    arms = {in_canary(canary.salt, subject, 50): subject for subject in subjects}
    assert len(arms) == 2
    for subject in arms.values():
        app.get(URL, {"subject": subject})  # both documents rendered and cached, the token's use written
    for subject in subjects[:6]:
        with django_assert_num_queries(1):
            assert app.get(URL, {"subject": subject}).status_code == 200
