"""Prompts, their immutable versions, diffs, the review workflow and its audit log, over the API."""

import pytest

from optimization.models import AuditEntry, Prompt, PromptVersion, VersionStatus
from promptopt.teams.models import Role
from tests.support.api import API_URLS, error_of, isolate, new_version, token_client
from tests.support.people import member

pytestmark = API_URLS


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    isolate(settings, tmp_path)


@pytest.fixture
def prompt(team, editor):
    client = token_client(editor)
    response = client.post("/api/v1/prompts/", {"team": team.pk, "name": "judge", "system_prompt": "Judge.",
                                                "output_instruction": "{input}\nAnswer:"}, format="json")
    assert response.status_code == 201, response.content
    return Prompt.objects.get(pk=response.json()["id"])


def test_it_creates_a_prompt_with_its_first_version(prompt, editor, team):
    body = token_client(editor).get(f"/api/v1/prompts/{prompt.pk}/").json()
    assert (body["name"], body["team"], body["versions"], body["latest_version"]) == ("judge", team.pk, 1, 1)
    assert body["production_version"] is None and body["created_by"] == "erin"
    first = prompt.versions.get()
    assert (first.system_prompt, first.output_instruction, first.status) == ("Judge.", "{input}\nAnswer:", "draft")


def test_without_texts_a_prompt_starts_from_the_default_prompt(editor, team):
    response = token_client(editor).post("/api/v1/prompts/", {"team": team.pk, "name": "x"}, format="json")
    assert "{input}" in Prompt.objects.get(pk=response.json()["id"]).versions.get().output_instruction


def test_blank_texts_start_from_the_default_prompt_as_on_the_page(editor, team):
    response = token_client(editor).post("/api/v1/prompts/", {"team": team.pk, "name": "x", "system_prompt": " ",
                                                               "output_instruction": ""}, format="json")
    first = Prompt.objects.get(pk=response.json()["id"]).versions.get()
    assert first.system_prompt.strip() and "{input}" in first.output_instruction


def test_creating_a_prompt_takes_the_editor_role(team):
    viewer = member(team, "vera", Role.VIEWER)
    response = token_client(viewer).post("/api/v1/prompts/", {"team": team.pk, "name": "x"}, format="json")
    assert response.status_code == 403
    assert not Prompt.objects.exists()


def test_a_new_version_is_a_new_row_with_its_parent_and_the_parents_texts(prompt, editor):
    client = token_client(editor)
    response = client.post(f"/api/v1/prompts/{prompt.pk}/versions/", {
        "system_prompt": "Judge sports sentences.", "note": "Narrower.",
        "demonstrations": [{"input": "A dunk in football", "output": "implausible"}],
    }, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["number"], body["parent"], body["status"], body["note"]) == (2, 1, "draft", "Narrower.")
    assert body["output_instruction"] == "{input}\nAnswer:"  # left out: the parent's
    assert body["demonstrations"] == [{"input": "A dunk in football", "output": "implausible"}]
    assert PromptVersion.objects.get(number=1).system_prompt == "Judge."  # the parent is untouched
    third = client.post(f"/api/v1/prompts/{prompt.pk}/versions/", {"parent": 1, "output_instruction": "{input}"},
                        format="json").json()
    assert (third["number"], third["parent"], third["system_prompt"], third["output_instruction"]) == (
        3, 1, "Judge.", "{input}")


def test_versions_cannot_be_edited_in_place(prompt, editor):
    client = token_client(editor)
    for method in ("put", "patch", "delete"):
        response = getattr(client, method)(f"/api/v1/prompts/{prompt.pk}/versions/1/", {"system_prompt": "x"},
                                           format="json")
        assert response.status_code == 405
        assert error_of(response)["code"] == "method_not_allowed"


def test_a_version_of_an_unknown_parent_or_bad_demonstrations_is_a_400(prompt, editor):
    client = token_client(editor)
    response = client.post(f"/api/v1/prompts/{prompt.pk}/versions/", {"parent": 9}, format="json")
    assert error_of(response) == {"code": "refused", "message": "Prompt judge has no version 9."}
    response = client.post(f"/api/v1/prompts/{prompt.pk}/versions/", {"demonstrations": [{"input": "x"}]},
                           format="json")
    error = error_of(response)
    assert error["details"] == {"demonstrations": {"0": {"output": ["This field is required."]}}}
    assert error["message"] == "demonstrations: 0: output: This field is required."


def test_a_version_without_a_system_prompt_is_refused_as_on_the_page(prompt, editor):
    response = token_client(editor).post(f"/api/v1/prompts/{prompt.pk}/versions/",
                                         {"system_prompt": "  ", "output_instruction": "{input}"}, format="json")
    assert response.status_code == 400
    assert error_of(response) == {"code": "refused",
                                  "message": "A version needs a system prompt: it tells the model its task."}
    assert prompt.versions.count() == 1


def test_a_prompt_without_versions_gets_none_without_a_parent(editor, team):
    empty = Prompt.objects.create(team=team, name="empty")  # as left by hand: prompt_create always writes v1
    response = token_client(editor).post(f"/api/v1/prompts/{empty.pk}/versions/", {"system_prompt": "Judge."},
                                         format="json")
    assert response.status_code == 400
    assert error_of(response)["message"] == "A new version is written from an existing one, and this prompt has none."
    assert not empty.versions.exists()


def test_versions_list_newest_first_and_filter_by_status(prompt, editor):
    new_version(prompt, editor)
    client = token_client(editor)
    assert [v["number"] for v in client.get(f"/api/v1/prompts/{prompt.pk}/versions/").json()["results"]] == [2, 1]
    candidates = client.get(f"/api/v1/prompts/{prompt.pk}/versions/?status=candidate").json()["results"]
    assert [v["number"] for v in candidates] == [2]


def test_the_diff_of_two_versions_is_a_unified_diff(prompt, editor):
    client = token_client(editor)
    client.post(f"/api/v1/prompts/{prompt.pk}/versions/", {"system_prompt": "Judge sports."}, format="json")
    body = client.get(f"/api/v1/prompts/{prompt.pk}/diff/?a=1&b=2").json()
    assert (body["a"], body["b"]) == (1, 2)
    assert body["diff"].splitlines()[:2] == ["--- judge v1", "+++ judge v2"]
    assert "-Judge.\n+Judge sports." in body["diff"]
    assert client.get(f"/api/v1/prompts/{prompt.pk}/diff/").json()["diff"] == body["diff"]  # b=latest, a=parent
    assert client.get(f"/api/v1/prompts/{prompt.pk}/diff/?a=1&b=1").json()["diff"] == ""
    assert client.get(f"/api/v1/prompts/{prompt.pk}/diff/?a=7").status_code == 404


def review(client, prompt, number, action, comment=""):
    return client.post(f"/api/v1/prompts/{prompt.pk}/versions/{number}/{action}/", {"comment": comment},
                       format="json")


def test_a_version_goes_to_production_through_another_person(prompt, editor, approver):
    author, reviewer = token_client(editor), token_client(approver)
    version = new_version(prompt, editor)
    assert review(author, prompt, version.number, "request-review").json()["status"] == "in_review"
    assert review(reviewer, prompt, version.number, "approve", "Good.").json()["status"] == "approved"
    assert review(reviewer, prompt, version.number, "promote").json()["status"] == "production"
    assert token_client(editor).get(f"/api/v1/prompts/{prompt.pk}/").json()["production_version"] == 2


def test_nobody_approves_their_own_version(prompt, approver):
    client = token_client(approver)
    version = new_version(prompt, approver)
    review(client, prompt, version.number, "request-review")
    response = review(client, prompt, version.number, "approve")
    assert response.status_code == 403
    assert "you made it" in error_of(response)["message"]
    assert PromptVersion.objects.get(pk=version.pk).status == VersionStatus.IN_REVIEW


def test_approving_takes_the_approver_role(prompt, editor, team):
    version = new_version(prompt, editor)
    review(token_client(editor), prompt, version.number, "request-review")
    response = review(token_client(member(team, "ed2", Role.EDITOR)), prompt, version.number, "approve")
    assert response.status_code == 403
    assert error_of(response)["message"] == "You need the approver role in Search quality to do this."


def test_a_rejection_needs_a_comment_and_a_promotion_an_approval(prompt, editor, approver):
    version = new_version(prompt, editor)
    review(token_client(editor), prompt, version.number, "request-review")
    response = review(token_client(approver), prompt, version.number, "reject")
    assert response.status_code == 400 and "Say why" in error_of(response)["message"]
    response = review(token_client(approver), prompt, version.number, "promote")
    assert response.status_code == 400
    assert error_of(response)["message"] == "judge v2 is in review, so it cannot be promoted (approve it first)."
    assert review(token_client(approver), prompt, version.number, "reject", "Too vague.").json()["status"] == (
        "rejected")


def test_a_rollback_puts_the_earlier_version_back(prompt, editor, approver, team):
    other = member(team, "bea", Role.APPROVER)
    reviewer = token_client(approver)
    first, second = new_version(prompt, editor, "One."), new_version(prompt, editor, "Two.")
    for version in (first, second):
        review(token_client(editor), prompt, version.number, "request-review")
        review(reviewer, prompt, version.number, "approve")
        review(reviewer, prompt, version.number, "promote")
    assert review(token_client(other), prompt, first.number, "rollback", "Two was worse.").json()["status"] == (
        "production")
    assert PromptVersion.objects.get(pk=second.pk).status == VersionStatus.APPROVED


def test_the_audit_log_filters_by_prompt_and_version(prompt, editor, approver, team):
    other = Prompt.objects.create(team=team, name="other")
    for p in (prompt, other):
        version = new_version(p, editor)
        review(token_client(editor), p, version.number, "request-review", "Please.")
    client = token_client(approver)
    entries = client.get("/api/v1/audit/").json()["results"]
    assert len(entries) == 2 and {e["prompt_name"] for e in entries} == {"judge", "other"}
    mine = client.get(f"/api/v1/audit/?prompt={prompt.pk}&version=2").json()["results"]
    assert [(e["action"], e["from_status"], e["to_status"], e["actor"], e["comment"]) for e in mine] == [
        ("request_review", "candidate", "in_review", "erin", "Please.")]
    assert client.get(f"/api/v1/audit/?prompt={prompt.pk}&version=1").json()["results"] == []
    assert client.get("/api/v1/audit/?version=2").status_code == 400
    assert AuditEntry.objects.count() == 2
