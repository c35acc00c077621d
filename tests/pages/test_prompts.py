"""Prompts, versions and reviews on the pages: a new prompt, writing a version, the diff, and a version's way to
production through request, approval and promotion, with each refusal explained."""

import json

from optimization.models import AuditEntry, Prompt, PromptVersion, VersionStatus
from optimization.reviews import review_request
from tests.pages.support import SYSTEM_TEXT, client_for, text


def test_a_prompt_left_empty_starts_from_the_default_texts(editor, team):
    response = client_for(editor).post("/prompts/new/", {"team": team.pk, "name": "Counter"})
    prompt = Prompt.objects.get(name="Counter")
    assert response["Location"] == f"/prompts/{prompt.pk}/"
    assert "{input}" in prompt.versions.get().output_instruction
    again = client_for(editor).post("/prompts/new/", {"team": team.pk, "name": "Counter"})
    assert again.status_code == 200 and "already has a prompt named" in text(again)


def test_writing_from_a_version_saves_a_new_one(editor, prompt, version):
    client = client_for(editor)
    response = client.post(f"/prompts/{prompt.pk}/v1/new/", {
        "system_prompt": "Judge sports statements.", "output_instruction": version.output_instruction,
        "demonstrations": '[{"input": "Messi scored a touchdown", "output": "implausible"}]', "note": "Shorter.",
    })
    new = prompt.versions.get(number=2)
    assert response["Location"] == f"/prompts/{prompt.pk}/v2/"
    assert (new.parent, new.created_by, new.status) == (version, editor, VersionStatus.DRAFT)
    assert new.demonstrations == [{"input": "Messi scored a touchdown", "output": "implausible"}]
    assert PromptVersion.objects.get(pk=version.pk).system_prompt == SYSTEM_TEXT
    unchanged = client.post(f"/prompts/{prompt.pk}/v2/new/", {
        "system_prompt": new.system_prompt, "output_instruction": new.output_instruction,
        "demonstrations": json.dumps(new.demonstrations)})
    assert unchanged.status_code == 200 and "Nothing changed from v2" in text(unchanged)
    bad_json = client.post(f"/prompts/{prompt.pk}/v2/new/", {"system_prompt": "x", "demonstrations": "[{"})
    assert bad_json.status_code == 200 and "Not valid JSON" in text(bad_json)
    assert prompt.versions.count() == 2


def test_the_diff_shows_the_words_that_changed(editor, prompt, version):
    PromptVersion.objects.create(prompt=prompt, parent=version, system_prompt="You judge football statements.",
                                 output_instruction=version.output_instruction, created_by=editor)
    page = text(client_for(editor).get(f"/prompts/{prompt.pk}/diff/"))
    assert "<del>sports</del>" in page and "<ins>football</ins>" in page
    assert client_for(editor).get(f"/prompts/{prompt.pk}/diff/", {"a": "7"}).status_code == 404


def test_a_version_reaches_production_through_request_approval_and_promotion(editor, approver, prompt):
    author = client_for(editor)
    author.post(f"/prompts/{prompt.pk}/v1/new/", {"system_prompt": "Judge sports statements.",
                                                  "output_instruction": "{input}\nAnswer: plausible or implausible"})
    response = author.post(f"/prompts/{prompt.pk}/v2/request/", {"comment": "Clearer answer format."})
    assert response["Location"] == f"/prompts/{prompt.pk}/v2/"
    reviewer = client_for(approver)
    assert "Approve" in text(reviewer.get(f"/prompts/{prompt.pk}/v2/"))
    reviewer.post(f"/prompts/{prompt.pk}/v2/approve/", {"comment": "Good."})
    done = reviewer.post(f"/prompts/{prompt.pk}/v2/promote/", follow=True)
    assert "Sports judge v2 is promoted to production." in text(done)
    assert prompt.versions.get(number=2).status == VersionStatus.PRODUCTION
    history = text(reviewer.get(f"/prompts/{prompt.pk}/"))
    assert "asked for a review" in history and "Clearer answer format." in history and "promoted" in history
    assert list(AuditEntry.objects.order_by("id").values_list("action", "actor")) == [
        ("request_review", editor.pk), ("approve", approver.pk), ("promote", approver.pk)]


def test_approving_ones_own_version_is_refused_with_the_reason(approver, prompt):
    client = client_for(approver)
    client.post(f"/prompts/{prompt.pk}/v1/new/", {"system_prompt": "Mine.", "output_instruction": "{input}"})
    client.post(f"/prompts/{prompt.pk}/v2/request/")
    response = client.post(f"/prompts/{prompt.pk}/v2/approve/")
    assert response.status_code == 403
    assert "You cannot approve Sports judge v2: you made it." in text(response)
    assert prompt.versions.get(number=2).status == VersionStatus.IN_REVIEW


def test_a_refused_transition_is_explained_on_the_version_page(approver, editor, prompt, version):
    client = client_for(approver)
    review_request(version=version, by=editor)
    page = text(client.post(f"/prompts/{prompt.pk}/v1/reject/", {"comment": " "}, follow=True))
    assert "Say why the version is rejected" in page
    page = text(client.post(f"/prompts/{prompt.pk}/v1/promote/", follow=True))
    assert "is in review, so it cannot be promoted" in page
    assert PromptVersion.objects.get(pk=version.pk).status == VersionStatus.IN_REVIEW
    assert client.post(f"/prompts/{prompt.pk}/v1/publish/").status_code == 404
    assert client.get(f"/prompts/{prompt.pk}/v1/approve/").status_code == 405


def test_an_editor_cannot_approve(editor, second_approver, prompt):
    theirs = PromptVersion.objects.create(prompt=prompt, system_prompt="Theirs.", created_by=second_approver)
    review_request(version=theirs, by=second_approver)
    response = client_for(editor).post(f"/prompts/{prompt.pk}/v{theirs.number}/approve/")
    assert response.status_code == 403 and "approver role" in text(response)
