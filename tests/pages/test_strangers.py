"""Another team's user, and bad input: a stranger gets nothing from any page or action and sees only their own
team's lists, and bad ids are 404, never 500."""

from django.core.files.uploadedfile import SimpleUploadedFile

from datasets.models import Dataset
from optimization.models import AuditEntry, Prompt, PromptVersion, Run
from optimization.services import prompt_create
from tests.pages.support import SYSTEM_TEXT, client_for, launch_form, pages, text
from tests.support.people import BIGBENCH


def test_a_stranger_gets_nothing_from_any_page_or_action(stranger, team, dataset, prompt, version, finished_run):
    client = client_for(stranger)
    best = finished_run.best_version
    for url in pages(dataset, prompt, version, finished_run):
        response = client.get(url)
        assert response.status_code in (200, 403, 404), url
        body = text(response)
        for secret in (SYSTEM_TEXT, "sports", "Sports judge", best.output_instruction[:30]):
            assert secret not in body, (url, secret)
    for url in pages(dataset, prompt, version, finished_run)[3:]:
        if url not in ("/prompts/", "/prompts/new/", "/runs/", "/runs/new/"):
            assert client.get(url).status_code == 404, url
    evaluation = finished_run.evaluations.first()
    assert client.get(f"/runs/{finished_run.pk}/results/", {"evaluation": evaluation.pk}).status_code == 404

    versions_before = list(PromptVersion.objects.order_by("pk").values_list("status", flat=True))
    posts = [
        (f"/prompts/{prompt.pk}/v{best.number}/{action}/", {"comment": "x"})
        for action in ("request", "approve", "reject", "promote", "rollback")
    ] + [
        (f"/prompts/{prompt.pk}/v1/new/", {"system_prompt": "Stolen."}),
        (f"/runs/{finished_run.pk}/cancel/", {}),
        ("/prompts/new/", {"team": team.pk, "name": "Planted"}),
        ("/runs/new/", launch_form(dataset, prompt) | {"estimate": "1"}),
        ("/runs/new/", launch_form(dataset, prompt) | {"launch": "1"}),
        ("/datasets/upload/", {"file": SimpleUploadedFile("t.json", (BIGBENCH / "tense.json").read_bytes()),
                               "name": "planted", "team": team.pk, "import": "1"}),
    ]
    for url, data in posts:
        response = client.post(url, data)
        assert response.status_code in (403, 404), url
        assert SYSTEM_TEXT not in text(response), url
    assert list(PromptVersion.objects.order_by("pk").values_list("status", flat=True)) == versions_before
    assert (Run.objects.count(), Dataset.objects.count(), Prompt.objects.count()) == (1, 1, 1)
    assert not AuditEntry.objects.exists()


def test_a_stranger_sees_only_their_own_teams_lists(stranger, other_team, dataset, prompt, finished_run):
    theirs = prompt_create(team=other_team, name="Their prompt", created_by=stranger)
    client = client_for(stranger)
    assert "Their prompt" in text(client.get("/prompts/"))
    for url in ("/", "/datasets/", "/prompts/", "/runs/", "/runs/new/", "/datasets/upload/", "/prompts/new/"):
        body = text(client.get(url))
        assert "Sports judge" not in body and "Search quality" not in body, url
    assert client.get(f"/prompts/{theirs.pk}/").status_code == 200


def test_bad_ids_are_404_never_500(editor, prompt, finished_run):
    client = client_for(editor)
    for url in ("/datasets/999999/", f"/prompts/{prompt.pk}/v99/", "/prompts/999999/", "/runs/999999/",
                "/runs/999999/live/", f"/runs/{finished_run.pk}/results/?evaluation=abc",
                f"/prompts/{prompt.pk}/diff/?a=x", "/no/such/page/"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Not found" in text(response), url
    assert client.get("/runs/", {"page": "abc", "status": "nonsense"}).status_code == 200
    assert client.post("/runs/new/", launch_form(finished_run.dataset, prompt) | {
        "dataset": "abc", "estimate": "1"}).status_code == 404
