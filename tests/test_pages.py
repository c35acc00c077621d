"""The team web app: every page for a member, nothing for anyone else, and the flows people rely on."""

import contextlib
import html
import io
import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from datasets.models import Dataset
from datasets.services import dataset_import
from optimization.models import (
    AuditEntry,
    Prompt,
    PromptVersion,
    Run,
    RunStatus,
    VersionStatus,
)
from optimization.reviews import review_request
from optimization.services import prompt_create, run_create, run_estimate
from promptopt.teams.models import Role
from tests.support.people import member
from tests.test_loop import StudentModel, run_to_the_end

BIGBENCH = Path(__file__).resolve().parent.parent / "data" / "bigbench"
SYSTEM_TEXT = "You judge sports statements."  # the start version's text: must never reach a stranger


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Uploads kept between the preview and the import land here, not in var/."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def viewer(team):
    return member(team, "vic", Role.VIEWER)


@pytest.fixture
def second_approver(team):
    return member(team, "bea", Role.APPROVER)


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def dataset(team, editor):
    task = json.loads((BIGBENCH / "sports_understanding.json").read_text())
    task["examples"] = task["examples"][:60]
    return dataset_import(team=team, name="sports", file=io.BytesIO(json.dumps(task).encode()), filename="t.json",
                          created_by=editor)


@pytest.fixture
def prompt(team, editor):
    return prompt_create(team=team, name="Sports judge", system_prompt=SYSTEM_TEXT, created_by=editor)


@pytest.fixture
def version(prompt):
    return prompt.versions.get()


@contextlib.contextmanager
def student_for(dataset, settings):
    """A loopback OpenAI-compatible model that answers right once the prompt states the answer format."""
    with StudentModel(dict(dataset.examples.values_list("input", "expected"))) as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = server.base_url, "test-key"
        settings.LLM_MAX_RETRIES = 1
        yield server


RUN_PARAMETERS = {"primary_provider": "openai", "optimizer_provider": "openai", "examples_per_split": 10, "seed": 1}


@pytest.fixture
def finished_run(dataset, version, editor, settings):
    with student_for(dataset, settings):
        run = run_create(dataset=dataset, start_version=version, created_by=editor, enqueue=False, **RUN_PARAMETERS)
        return run_to_the_end(run)


@pytest.fixture
def queued_run(dataset, version, editor):
    return run_create(dataset=dataset, start_version=version, created_by=editor, enqueue=False, **RUN_PARAMETERS)


def pages(dataset, prompt, version, run):
    """Every page that shows a team's objects."""
    return [
        "/",
        "/datasets/",
        "/datasets/upload/",
        f"/datasets/{dataset.pk}/",
        "/prompts/",
        "/prompts/new/",
        f"/prompts/{prompt.pk}/",
        f"/prompts/{prompt.pk}/v{version.number}/",
        f"/prompts/{prompt.pk}/v{version.number}/new/",
        f"/prompts/{prompt.pk}/diff/",
        "/runs/",
        "/runs/new/",
        f"/runs/{run.pk}/",
        f"/runs/{run.pk}/live/",
        f"/runs/{run.pk}/results/",
    ]


def launch_form(dataset, prompt, **changes):
    form = {
        "dataset": dataset.pk, "prompt": prompt.pk, "version": "", "primary_provider": "openai", "primary_model": "",
        "optimizer_provider": "openai", "optimizer_model": "", "metric": "exact_match", "strategy": "operators",
        "target": "0.9", "patience": "3", "max_iterations": "10", "candidates_per_iteration": "4",
        "examples_per_split": "10", "max_llm_calls": "", "max_tokens": "", "max_cost": "", "temperature": "0",
        "seed": "1", "use_cache": "on",
    }
    return form | changes


def text(response):
    return response.content.decode()


def number_beside(page, input_text):
    """The number a page shows in the row of the example whose input is `input_text`."""
    line = r'(?:<td class="num muted">\d+</td>\s*)?'  # the preview shows the line in the file too
    match = re.search(rf'<td class="num">(\d+)</td>\s*{line}<td class="text">{re.escape(html.escape(input_text))}</td>',
                      page)
    assert match, f"no row for {input_text!r}"
    return int(match.group(1))


# ---------------------------------------------------------------------------------------------------------
# Signing in, and pages for members


def test_anonymous_visitors_are_sent_to_sign_in(client, dataset, prompt, version, queued_run):
    for url in pages(dataset, prompt, version, queued_run):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url
    response = client.post(f"/runs/{queued_run.pk}/cancel/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert Run.objects.get(pk=queued_run.pk).status == RunStatus.QUEUED


def test_a_polled_fragment_sends_a_signed_out_page_to_sign_in(client, queued_run):
    response = client.get(f"/runs/{queued_run.pk}/live/", headers={
        "HX-Request": "true", "HX-Current-URL": f"http://testserver/runs/{queued_run.pk}/"})
    assert response["HX-Redirect"] == f"/accounts/login/?next=/runs/{queued_run.pk}/"
    assert "password" not in text(response)


def test_a_member_signs_in_on_the_sign_in_page(client, editor):
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and 'name="password"' in text(page)
    response = client.post("/accounts/login/", {"username": "erin", "password": "pw-for-tests-only"})
    assert (response.status_code, response["Location"]) == (302, "/")
    wrong = client.post("/accounts/login/", {"username": "erin", "password": "nope"})
    assert wrong.status_code == 200 and "error-box" in text(wrong)


def test_every_page_renders_for_a_team_member(approver, dataset, prompt, version, finished_run):
    client = client_for(approver)
    for url in pages(dataset, prompt, version, finished_run):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "<title>" in text(response) or url.endswith("/live/"), url
    assert "sports" in text(client.get("/datasets/"))
    assert SYSTEM_TEXT in text(client.get(f"/prompts/{prompt.pk}/v1/"))
    assert f'href="/runs/{finished_run.pk}/"' in text(client.get("/runs/"))


def test_a_viewer_reads_but_is_not_offered_writes(viewer, prompt, version):
    client = client_for(viewer)
    page = text(client.get(f"/prompts/{prompt.pk}/v1/"))
    assert SYSTEM_TEXT in page
    assert "Write a new version" not in page and "Request review" not in page
    refused = client.get(f"/prompts/{prompt.pk}/v1/new/")
    assert refused.status_code == 403 and "editor role" in text(refused)


def test_the_dashboard_says_what_to_do_next(editor, django_user_model):
    assert "Upload a dataset" in text(client_for(editor).get("/"))
    loner = django_user_model.objects.create_user(username="lone", password="x")
    assert "You are not in a team yet" in text(client_for(loner).get("/"))


def test_the_dashboard_lists_versions_waiting_for_review(approver, editor, version):
    review_request(version=version, by=editor)
    page = text(client_for(approver).get("/"))
    assert "Sports judge v1" in page and "No version is waiting" not in page


# ---------------------------------------------------------------------------------------------------------
# Datasets


def test_it_previews_a_bigbench_file_then_imports_it(editor, team, media):
    client = client_for(editor)
    path = BIGBENCH / "tense.json"
    upload = SimpleUploadedFile("tense.json", path.read_bytes())
    preview = client.post("/datasets/upload/", {"file": upload, "team": team.pk, "seed": "3", "preview": "1"})
    page = text(preview)
    assert preview.status_code == 200
    assert "Preview of tense.json" in page
    assert "She had applied for the job." in page and "She has applied for the job." in page
    assert "<code>target</code>" in page and "seed 3" in page
    assert Dataset.objects.count() == 0  # nothing is imported by a preview
    assert len(list((media / "uploads" / "pending").glob("*-tense.json"))) == 1  # kept for the import

    form = preview.context["form"]
    token, name = form["upload"].value(), form["name"].value()
    assert name == "tense"
    assert 'type="file"' in page and "required" not in str(form["file"])  # the kept file will do
    response = client.post("/datasets/upload/", {"upload": token, "name": name, "team": team.pk, "seed": "3",
                                                 "import": "1"})
    dataset = Dataset.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/datasets/{dataset.pk}/"
    assert (dataset.name, dataset.split_seed, dataset.examples.count()) == ("tense", 3, 286)
    assert list((media / "uploads" / "pending").glob("*")) == []  # the kept file is gone once imported
    detail = text(client.get(response["Location"]))
    assert "Imported 286 examples into tense." in detail and "She had applied for the job." in detail


def test_a_broken_file_shows_where_it_is_broken_and_imports_nothing(editor, team):
    client = client_for(editor)
    broken = SimpleUploadedFile("task.json", b'{"examples": [{"input": "a", "target": "b"},\n  {"input": }]}')
    response = client.post("/datasets/upload/", {"file": broken, "name": "bad", "team": team.pk, "preview": "1"})
    assert response.status_code == 200
    assert "Line 2: invalid JSON" in text(response)
    assert "Import</button>" not in text(response)
    assert Dataset.objects.count() == 0


def test_a_row_broken_after_the_preview_is_caught_by_the_import(editor, team):
    client = client_for(editor)
    lines = ["question,answer"] + [f"q{i},a{i}" for i in range(1, 15)] + ["q15,a15,extra"]
    upload = SimpleUploadedFile("qa.csv", "\n".join(lines).encode())
    preview = client.post("/datasets/upload/", {"file": upload, "team": team.pk, "preview": "1"})
    assert "q10" in text(preview) and "q11" not in text(preview)  # ten rows shown
    token = preview.context["form"]["upload"].value()
    response = client.post("/datasets/upload/", {"upload": token, "name": "qa", "team": team.pk, "import": "1"})
    assert response.status_code == 200
    assert "Line 16: 3 fields where the header has 2" in text(response)
    assert Dataset.objects.count() == 0


def test_an_unknown_kind_of_file_is_refused_on_the_form(editor, team):
    upload = SimpleUploadedFile("notes.txt", b"hello")
    response = client_for(editor).post("/datasets/upload/", {"file": upload, "team": team.pk, "preview": "1"})
    assert response.status_code == 200 and "Unknown file format &#x27;.txt&#x27;" in text(response)


def test_a_viewer_cannot_upload(viewer, team):
    upload = SimpleUploadedFile("tense.json", (BIGBENCH / "tense.json").read_bytes())
    response = client_for(viewer).post("/datasets/upload/", {"file": upload, "name": "t", "team": team.pk,
                                                             "import": "1"})
    assert response.status_code == 403 and "You need the editor role in Search quality" in text(response)
    assert Dataset.objects.count() == 0


def test_the_examples_browser_searches_filters_and_pages(editor, dataset):
    client = client_for(editor)
    url = f"/datasets/{dataset.pk}/"
    first = dataset.examples.order_by("position").first()
    found = client.get(url, {"q": first.input[:25]})
    assert first.input in text(found) and found.context["page"].paginator.count >= 1
    test_split = client.get(url, {"split": "test"})
    assert test_split.context["page"].paginator.count == dataset.split_counts()["test"]
    assert {e.split for e in test_split.context["page"]} == {"test"}
    assert client.get(url, {"page": "999"}).context["page"].number == 3  # 60 examples, 25 a page
    assert "No example matches" in text(client.get(url, {"q": "no such words anywhere"}))
    fragment = client.get(url, {"q": first.input[:25]}, headers={"HX-Request": "true"})
    assert first.input in text(fragment) and "<html" not in text(fragment)


def test_examples_are_numbered_from_1_in_the_preview_and_once_imported(editor, team):
    task = {"examples": [{"input": f"Question {n}?", "target": f"Answer {n}"} for n in (1, 2, 3)]}
    client = client_for(editor)
    upload = SimpleUploadedFile("questions.json", json.dumps(task).encode())
    preview = client.post("/datasets/upload/", {"file": upload, "team": team.pk, "preview": "1"})
    imported = client.post("/datasets/upload/", {"upload": preview.context["form"]["upload"].value(),
                                                 "name": "questions", "team": team.pk, "import": "1"}, follow=True)
    assert "Imported 3 examples" in text(imported)
    for n in (1, 2, 3):
        assert number_beside(text(preview), f"Question {n}?") == number_beside(text(imported), f"Question {n}?") == n


def test_a_csv_preview_numbers_examples_from_1_and_shows_their_line(editor, team):
    upload = SimpleUploadedFile("qa.csv", b"input,answer\nFirst?,a\nSecond?,b\n")
    preview = text(client_for(editor).post("/datasets/upload/", {"file": upload, "team": team.pk, "preview": "1"}))
    assert number_beside(preview, "First?") == 1
    assert re.search(r'<td class="num">1</td>\s*<td class="num muted">2</td>\s*<td class="text">First\?', preview)


# ---------------------------------------------------------------------------------------------------------
# Prompts, versions and reviews


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


# ---------------------------------------------------------------------------------------------------------
# Runs


def test_launching_shows_the_estimate_then_runs_to_the_end(editor, dataset, prompt, settings, monkeypatch,
                                                           django_capture_on_commit_callbacks):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)  # the queue runs each task as it is queued
    client = client_for(editor)
    assert client.get("/runs/new/", {"dataset": dataset.pk}).context["form"].initial["dataset"] == str(dataset.pk)
    form = launch_form(dataset, prompt)
    estimate = client.post("/runs/new/", form | {"estimate": "1"})
    expected = run_estimate(dataset=dataset, examples_per_split=10, candidates_per_iteration=4, max_iterations=10)
    assert f'id="estimate">{expected}<' in text(estimate)
    assert Run.objects.count() == 0  # nothing runs before it is confirmed

    confirmed = {key: value for key, value in estimate.context["form"].data.items()} | {"launch": "1"}
    with student_for(dataset, settings), django_capture_on_commit_callbacks(execute=True):
        response = client.post("/runs/new/", confirmed)
    run = Run.objects.get()
    assert response["Location"] == f"/runs/{run.pk}/"
    assert (run.status, run.created_by, run.start_version.prompt) == (RunStatus.SUCCEEDED, editor, prompt)
    assert run.estimated_calls == expected
    page = text(client.get(response["Location"]))
    assert "Test-split comparison" in page and "95 % interval" in page
    assert "+1.00" in page and "p = 0.002" in page  # McNemar: 10 of 10 discordant pairs in favour
    assert "is offered for review" in page and "baseline: always “plausible”" in page
    assert "<svg" in page and "Target reached" in page


def test_bad_run_parameters_come_back_as_form_errors(editor, dataset, prompt):
    client = client_for(editor)
    response = client.post("/runs/new/", launch_form(dataset, prompt, target="5", patience="0") | {"estimate": "1"})
    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"target", "patience"}
    unknown_version = client.post("/runs/new/", launch_form(dataset, prompt, version="9") | {"launch": "1"})
    assert "has no version 9" in text(unknown_version)
    tiny = dataset_import(team=dataset.team, name="tiny", file=io.BytesIO(b"input,answer,split\na,b,train\n"),
                          filename="tiny.csv")
    no_test = client.post("/runs/new/", launch_form(tiny, prompt) | {"launch": "1"})
    assert "has no validation examples" in text(no_test)
    assert Run.objects.count() == 0


def test_a_viewer_cannot_launch(viewer, dataset, prompt):
    response = client_for(viewer).post("/runs/new/", launch_form(dataset, prompt) | {"estimate": "1"})
    assert response.status_code == 403 and "editor role" in text(response)


def test_the_run_page_polls_while_active_and_stops_once_done(editor, queued_run, finished_run):
    client = client_for(editor)
    live = text(client.get(f"/runs/{queued_run.pk}/live/", headers={"HX-Request": "true"}))
    assert f'hx-get="/runs/{queued_run.pk}/live/" hx-trigger="every 2s"' in live
    assert "Waiting for a worker" in live and "Cancel the run" in live
    done = text(client.get(f"/runs/{finished_run.pk}/live/", headers={"HX-Request": "true"}))
    assert "hx-trigger" not in done and "Test-split comparison" in done
    assert "Cancel the run" not in done


def test_the_launch_message_shows_once_and_goes_at_the_first_refresh(editor, dataset, prompt):
    """Flash messages sit above the part HTMX refreshes: the refresh clears them out of band, or "queued" would
    stay above a run that has succeeded."""
    client = client_for(editor)
    launched = client.post("/runs/new/", launch_form(dataset, prompt) | {"launch": "1"})
    run = Run.objects.get()
    assert f"Run #{run.pk} is queued" in text(client.get(launched["Location"]))
    refresh = text(client.get(f"/runs/{run.pk}/live/", headers={"HX-Request": "true"}))
    assert '<div id="messages" hx-swap-oob="true"></div>' in refresh
    assert "is queued" not in text(client.get(launched["Location"]))
    assert "hx-swap-oob" not in text(client.get(f"/runs/{run.pk}/"))  # the page itself keeps its messages


def test_the_run_page_counts_calls_tokens_and_cache_hits(editor, finished_run):
    from optimization.llm import usage_for

    usage = usage_for(finished_run)
    page = text(client_for(editor).get(f"/runs/{finished_run.pk}/"))
    assert usage["llm_calls"] > 0
    assert f'<span class="stat-value">{usage["llm_calls"]}</span><span class="stat-label">LLM calls' in page
    assert f'<span class="stat-value">{usage["tokens"]}</span>' in page


def test_a_failed_run_says_why(editor, dataset, version, settings):
    with student_for(dataset, settings) as student:
        student.always = 401
        run = run_to_the_end(run_create(dataset=dataset, start_version=version, enqueue=False, **RUN_PARAMETERS))
    page = text(client_for(editor).get(f"/runs/{run.pk}/"))
    assert "Why it stopped:" in page and "Incorrect API key provided." in page


def test_cancelling_from_the_run_page(editor, viewer, queued_run):
    refused = client_for(viewer).post(f"/runs/{queued_run.pk}/cancel/")
    assert refused.status_code == 403
    page = text(client_for(editor).post(f"/runs/{queued_run.pk}/cancel/", follow=True))
    assert f"Run #{queued_run.pk} is cancelled." in page
    assert Run.objects.get(pk=queued_run.pk).status == RunStatus.CANCELLED
    again = text(client_for(editor).post(f"/runs/{queued_run.pk}/cancel/", follow=True))
    assert "has already cancelled" in again


def test_answers_per_example_with_a_failures_filter(editor, finished_run):
    client = client_for(editor)
    start_test = finished_run.evaluations.get(version=finished_run.start_version, split="test")
    best_test = finished_run.evaluations.get(version=finished_run.best_version, split="test")
    url = f"/runs/{finished_run.pk}/results/"
    assert client.get(url).context["evaluation"] == best_test  # the best version on test, by default
    all_answers = client.get(url, {"evaluation": start_test.pk})
    assert all_answers.context["page"].paginator.count == 10
    assert "Well, it depends on the game." in text(all_answers)
    failures = client.get(url, {"evaluation": start_test.pk, "failures": "1"})
    assert failures.context["page"].paginator.count == 10  # the start got every test example wrong
    none = client.get(url, {"evaluation": best_test.pk, "failures": "1"})
    assert "No failure" in text(none)
    fragment = text(client.get(url, {"evaluation": start_test.pk}, headers={"HX-Request": "true"}))
    assert "Well, it depends" in fragment and "<html" not in fragment
    shown = all_answers.context["page"][0].example
    assert number_beside(text(all_answers), shown.input) == shown.position + 1  # its number in the dataset


# ---------------------------------------------------------------------------------------------------------
# Another team's user, and bad input


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
