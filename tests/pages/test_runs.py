"""The run pages: launching after the estimate, bad parameters as form errors, the live page while a run is active
and once it is done, calls and tokens, why a run failed, cancelling, and the answers per example."""

import io

from datasets.services import dataset_import
from optimization.models import Run, RunStatus
from optimization.services import run_create, run_estimate
from tests.pages.support import RUN_PARAMETERS, client_for, launch_form, number_beside, student_for, text
from tests.test_loop import run_to_the_end


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
