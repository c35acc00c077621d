"""Export and import of a prompt (optimization.exchange): the CLI, the API and the pages, and a fresh database."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from optimization.exchange import FORMAT, prompt_export, prompt_import
from optimization.models import AuditEntry, Evaluation, Prompt, PromptVersion, VersionStatus
from optimization.reviews import review_approve, review_reject, review_request, version_promote
from optimization.services import prompt_create, run_create, version_create
from promptopt.errors import NotAllowed, PromptOptError
from promptopt.teams.models import Role, Team
from tests.support.api import isolate, token_client
from tests.support.people import member


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    isolate(settings, tmp_path)


@pytest.fixture
def shipped(team, dataset, editor, approver):
    """v1 the starting prompt, v2 with a demonstration in production after review, v3 rejected; v2 scored."""
    prompt = prompt_create(team=team, name="Sports judge", created_by=editor, description="Plausible sentences?")
    first = prompt.versions.get()
    second = version_create(parent=first, by=editor, system_prompt="Judge sports sentences.",
                            demonstrations=[{"input": "Messi scored a touchdown.", "output": "implausible"}],
                            note="Shorter.")
    review_request(version=second, by=editor)
    review_approve(version=second, by=approver, comment="Reads well.")
    version_promote(version=second, by=approver)
    third = version_create(parent=second, by=editor, system_prompt="Be a sports judge.")
    review_request(version=third, by=editor)
    review_reject(version=third, by=approver, comment="Worse on test.")
    run = run_create(dataset=dataset, start_version=first, created_by=editor, enqueue=False)
    Evaluation.objects.create(run=run, version=second, split="test", score=0.75)
    return prompt


def test_the_document_holds_every_version_its_scores_and_history(shipped):
    document = json.loads(json.dumps(prompt_export(prompt=shipped)))
    assert document["format"] == FORMAT and document["prompt"]["name"] == "Sports judge"
    v1, v2, v3 = document["versions"]
    assert [v["status"] for v in (v1, v2, v3)] == ["draft", "production", "rejected"]
    assert v2["parent"] == 1
    assert v2["demonstrations"] == [{"input": "Messi scored a touchdown.", "output": "implausible"}]
    assert [(s["split"], s["score"], s["dataset"]) for s in v2["scores"]] == [("test", 0.75, "sports")]
    assert [(h["action"], h["actor"]) for h in v2["history"]] == [("request_review", "erin"), ("approve", "alex"),
                                                                  ("promote", "alex")]
    assert v3["history"][-1]["comment"] == "Worse on test."


@pytest.mark.django_db(transaction=True)
def test_export_then_import_on_a_fresh_database_recreates_the_versions_as_drafts_with_their_history(shipped,
                                                                                                    tmp_path):
    path = tmp_path / "sports-judge.json"
    call_command("export_prompt", "Sports judge", "--team", "Search quality", "--output", str(path))
    call_command("flush", "--noinput")  # another instance: nothing of the source is left
    assert not Prompt.objects.exists() and not AuditEntry.objects.exists()
    team = Team.objects.create(name="Receiving team")
    importer = member(team, "ines", Role.EDITOR)
    reviewer = member(team, "rui", Role.APPROVER)

    call_command("import_prompt", str(path), "--team", "Receiving team", "--user", "ines")

    prompt = Prompt.objects.get(team=team, name="Sports judge")
    versions = list(prompt.versions.order_by("number"))
    assert [v.status for v in versions] == [VersionStatus.DRAFT] * 3  # nothing arrives in production
    assert versions[1].system_prompt == "Judge sports sentences." and versions[1].parent == versions[0]
    assert versions[1].demonstrations == [{"input": "Messi scored a touchdown.", "output": "implausible"}]
    assert all(v.created_by == importer for v in versions)
    assert "production there" in versions[1].note and "test 0.750" in versions[1].note
    entry = versions[1].audit_entries.get()
    assert (entry.action, entry.from_status, entry.to_status) == ("import", "production", "draft")
    assert "alex approve in_review → approved (Reads well.)" in entry.comment
    assert "Worse on test." in versions[2].audit_entries.get().comment

    # The usual review: the importer cannot approve, another approver can, then it may ship.
    review_request(version=versions[1], by=importer)
    with pytest.raises(NotAllowed):
        review_approve(version=versions[1], by=importer)
    review_approve(version=versions[1], by=reviewer)
    version_promote(version=versions[1], by=reviewer)
    assert PromptVersion.objects.get(pk=versions[1].pk).status == VersionStatus.PRODUCTION


def test_import_refuses_a_taken_name_unless_renamed_and_a_document_that_is_not_one(shipped, team, editor):
    document = prompt_export(prompt=shipped)
    with pytest.raises(PromptOptError, match="already has a prompt named 'Sports judge'"):
        prompt_import(team=team, document=document, by=editor)
    assert prompt_import(team=team, document=document, by=editor, name="Sports judge 2").versions.count() == 3
    broken = json.loads(json.dumps(document))
    broken["versions"][1]["status"] = "shipped"
    with pytest.raises(PromptOptError, match="unknown status 'shipped'"):
        prompt_import(team=team, document=broken, by=editor, name="x")
    with pytest.raises(PromptOptError, match="format"):
        prompt_import(team=team, document={"versions": []}, by=editor, name="x")
    assert not Prompt.objects.filter(name="x").exists()


def test_a_viewer_cannot_import(shipped, team):
    viewer = member(team, "vic", Role.VIEWER)
    with pytest.raises(NotAllowed):
        prompt_import(team=team, document=prompt_export(prompt=shipped), by=viewer, name="mine")


def test_the_commands_word_their_errors(shipped, tmp_path):
    with pytest.raises(CommandError, match="No prompt named 'nope'"):
        call_command("export_prompt", "nope")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CommandError, match="is not JSON"):
        call_command("import_prompt", str(bad), "--team", "Search quality")


@pytest.mark.urls("promptopt.urls")
def test_the_api_exports_and_imports_within_the_callers_teams(shipped, team, editor, stranger):
    exported = token_client(editor).get(f"/api/v1/prompts/{shipped.pk}/export/")
    assert exported.status_code == 200 and exported.json()["format"] == FORMAT
    assert "attachment" in exported["Content-Disposition"]
    assert token_client(stranger).get(f"/api/v1/prompts/{shipped.pk}/export/").status_code == 404

    body = {"team": team.pk, "name": "Sports judge (copy)", "document": exported.json()}
    created = token_client(editor).post("/api/v1/prompts/import/", body, format="json")
    assert created.status_code == 201, created.json()
    copy = Prompt.objects.get(pk=created.json()["id"])
    assert set(copy.versions.values_list("status", flat=True)) == {VersionStatus.DRAFT}

    again = token_client(editor).post("/api/v1/prompts/import/", body, format="json")
    assert again.status_code == 400 and "already has a prompt" in again.json()["error"]["message"]
    other_team = token_client(stranger).post("/api/v1/prompts/import/", body, format="json")
    assert other_team.status_code == 404  # not one of the stranger's teams
    read_only = token_client(editor, scope="read").post("/api/v1/prompts/import/", body, format="json")
    assert read_only.status_code == 403


def test_the_pages_export_button_and_import_page(shipped, team, editor, person):
    page = person.get(f"/prompts/{shipped.pk}/")
    assert f'href="/prompts/{shipped.pk}/export/"' in page.content.decode()
    download = person.get(f"/prompts/{shipped.pk}/export/")
    assert download.status_code == 200 and "attachment" in download["Content-Disposition"]
    document = json.loads(download.content)

    upload = SimpleUploadedFile("p.json", json.dumps(document).encode(), content_type="application/json")
    answer = person.post("/prompts/import/", {"file": upload, "team": team.pk, "name": "Imported judge"})
    copy = Prompt.objects.get(name="Imported judge")
    assert answer.status_code == 302 and answer["Location"] == f"/prompts/{copy.pk}/"
    assert copy.versions.filter(status=VersionStatus.DRAFT).count() == 3
    shown = person.get(f"/prompts/{copy.pk}/").content.decode()
    assert "imported it as a draft" in shown and "alex approve in_review → approved (Reads well.)" in shown

    bad = SimpleUploadedFile("p.json", b"{broken", content_type="application/json")
    refused = person.post("/prompts/import/", {"file": bad, "team": team.pk})
    assert refused.status_code == 200 and "not JSON" in refused.content.decode()
    taken = SimpleUploadedFile("p.json", json.dumps(document).encode(), content_type="application/json")
    refused = person.post("/prompts/import/", {"file": taken, "team": team.pk})
    assert "already has a prompt named" in refused.content.decode()
