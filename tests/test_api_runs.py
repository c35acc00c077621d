"""Runs over the API: queued with their estimate, followed to the end, their results example by example."""

import pytest

from optimization import loop
from optimization.models import Run, RunStatus
from optimization.services import prompt_create, run_estimate
from promptopt.teams.models import Role
from tests.loopback.student import StudentModel
from tests.support.api import API_URLS, error_of, isolate, token_client
from tests.support.people import member

pytestmark = API_URLS


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    isolate(settings, tmp_path)


@pytest.fixture
def student(dataset, settings):
    """The loopback model of tests/test_loop.py: right only once the prompt names the allowed answers."""
    with StudentModel(dict(dataset.examples.values_list("input", "expected"))) as server:
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_API_KEY = "test-key"
        settings.LLM_MAX_RETRIES = 1
        settings.LLM_RETRY_INITIAL_DELAY = 0.01
        yield server


@pytest.fixture
def prompt(dataset, editor):
    return prompt_create(team=dataset.team, name="sports", created_by=editor)


PARAMETERS = {"primary_provider": "openai", "optimizer_provider": "openai", "examples_per_split": 10, "seed": 1,
              "max_iterations": 3, "candidates_per_iteration": 4}


def start(client, dataset, prompt, **parameters):
    return client.post("/api/v1/runs/", {"dataset": dataset.pk, "prompt": prompt.pk, **PARAMETERS, **parameters},
                       format="json")


def run_to_the_end(run_id):
    for _ in range(200):
        if not loop.run_next_step(run_id):
            return
    raise AssertionError("the run never ended")


def test_a_run_is_accepted_queued_with_its_estimate(dataset, prompt, editor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as queued:
        response = start(token_client(editor), dataset, prompt)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["start_version"] == 1 and body["prompt_name"] == "sports"
    assert body["estimated_calls"] == run_estimate(dataset=dataset, **PARAMETERS) == 10 + 3 * 4 * 10 + 2 * 10
    assert body["parameters"]["primary_provider"] == "openai"
    assert len(queued) == 1  # the task is queued once the run is saved
    assert Run.objects.get().created_by == editor


def test_bad_parameters_are_refused_before_anything_is_saved(dataset, prompt, editor):
    client = token_client(editor)
    assert error_of(start(client, dataset, prompt, metric="accuracy"))["details"]["metric"]
    response = start(client, dataset, prompt, metric="exact_match", metric_options={"lowercase": True})
    assert error_of(response) == {"code": "refused", "message": "exact_match has no option 'lowercase'."} or (
        "no option 'lowercase'" in error_of(response)["message"])
    assert start(client, dataset, prompt, max_iterations=0).status_code == 400
    assert start(client, dataset, prompt, version=9).status_code == 400
    assert not Run.objects.exists()


def test_starting_a_run_takes_the_editor_role_and_your_teams_objects(dataset, prompt, team, stranger):
    viewer = member(team, "vera", Role.VIEWER)
    response = start(token_client(viewer), dataset, prompt)
    assert response.status_code == 403 and "editor role" in error_of(response)["message"]
    assert start(token_client(stranger), dataset, prompt).status_code == 404
    assert not Run.objects.exists()


def test_the_detail_follows_the_run_to_its_scores_and_usage(dataset, prompt, editor, student):
    client = token_client(editor)
    run_id = start(client, dataset, prompt).json()["id"]
    run_to_the_end(run_id)
    body = client.get(f"/api/v1/runs/{run_id}/").json()
    assert body["status"] == "succeeded" and body["best_version"] is not None
    assert body["summary"]["start"] == {"validation": 0.0, "test": 0.0}
    assert body["summary"]["best"] == {"validation": 1.0, "test": 1.0}
    assert body["summary"]["p_value"] < 0.01
    assert body["usage"]["llm_calls"] == body["summary"]["llm_calls"] > 0
    iteration = body["iterations"][0]
    assert iteration["number"] == 1 and iteration["improved"] is True
    assert len(iteration["candidates"]) == 4
    assert max(c["validation_score"] for c in iteration["candidates"]) == 1.0
    evaluated = {(e["version"], e["split"]) for e in body["evaluations"]}
    assert {(1, "validation"), (1, "test"), (body["best_version"], "test")} <= evaluated


def test_results_page_by_example_and_show_the_failures(dataset, prompt, editor, student):
    client = token_client(editor)
    run_id = start(client, dataset, prompt).json()["id"]
    run_to_the_end(run_id)
    start_results = client.get(f"/api/v1/runs/{run_id}/versions/1/results/?split=test").json()
    assert start_results["count"] == 10
    first = start_results["results"][0]
    assert first["output"] == "Well, it depends on the game." and first["score"] == 0.0 and first["split"] == "test"
    failures = client.get(f"/api/v1/runs/{run_id}/versions/1/results/?failures_only=true").json()
    assert failures["count"] == 20  # wrong on all 10 validation and 10 test examples
    best = Run.objects.get().best_version.number
    assert client.get(f"/api/v1/runs/{run_id}/versions/{best}/results/?failures_only=true").json()["count"] == 0
    assert client.get(f"/api/v1/runs/{run_id}/versions/99/results/").status_code == 404
    assert client.get(f"/api/v1/runs/{run_id}/versions/1/results/?failures_only=maybe").status_code == 400


def test_a_queued_run_is_cancelled_at_once_and_a_finished_one_cannot_be(dataset, prompt, editor, team):
    client = token_client(editor)
    run_id = start(client, dataset, prompt).json()["id"]
    viewer = member(team, "vera", Role.VIEWER)
    assert token_client(viewer).post(f"/api/v1/runs/{run_id}/cancel/").status_code == 403
    response = client.post(f"/api/v1/runs/{run_id}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    response = client.post(f"/api/v1/runs/{run_id}/cancel/")
    assert response.status_code == 400
    assert error_of(response)["message"] == f"Run {run_id} has already cancelled."


def test_a_run_held_by_a_worker_stops_at_its_next_check(dataset, prompt, editor):
    client = token_client(editor)
    run_id = start(client, dataset, prompt).json()["id"]
    loop.claim(run_id)
    response = client.post(f"/api/v1/runs/{run_id}/cancel/")
    assert response.status_code == 202
    assert response.json()["cancel_requested"] is True and response.json()["status"] != RunStatus.CANCELLED


def test_the_list_filters_by_status_and_prompt(dataset, prompt, editor):
    client = token_client(editor)
    first = start(client, dataset, prompt).json()["id"]
    start(client, dataset, prompt)
    client.post(f"/api/v1/runs/{first}/cancel/")
    cancelled = client.get("/api/v1/runs/?status=cancelled").json()["results"]
    assert [r["id"] for r in cancelled] == [first]
    assert client.get(f"/api/v1/runs/?prompt={prompt.pk}").json()["count"] == 2
    assert client.get(f"/api/v1/runs/?dataset={dataset.pk + 100}").json()["count"] == 0


def test_the_detail_has_the_baseline_the_flags_and_the_verdict(dataset, prompt, editor, student):
    student.answers = {text: "plausible" for text in student.answers}  # the best answers one label to everything
    client = token_client(editor)
    run_id = start(client, dataset, prompt).json()["id"]
    run_to_the_end(run_id)
    summary = client.get(f"/api/v1/runs/{run_id}/").json()["summary"]
    run = Run.objects.get()
    assert set(summary["baseline"]) == {"answer", "validation", "test", "test_delta", "ci_low", "ci_high", "p_value"}
    assert summary["baseline"]["test_delta"] == run.baseline_delta
    assert summary["constant_answer"]["best"] == {"validation": True, "test": True}
    assert summary["offered_for_review"] is False and summary["verdict"] == run.verdict
    evaluations = client.get(f"/api/v1/runs/{run_id}/").json()["evaluations"]
    baseline = [e for e in evaluations if e["version"] is None]
    assert {e["split"] for e in baseline} == {"validation", "test"}
    assert all(e["baseline_answer"] == summary["baseline"]["answer"] for e in baseline)
    best_test = next(e for e in evaluations if e["version"] == run.best_version.number and e["split"] == "test")
    assert best_test["constant_answer"] is True and best_test["spread"]["top_answer"] == "plausible"


def test_a_held_back_version_is_sent_for_review_over_the_api_only_with_an_override(dataset, prompt, editor,
                                                                                   student):
    student.answers = {text: "plausible" for text in student.answers}
    client = token_client(editor)
    run_id = start(client, dataset, prompt).json()["id"]
    run_to_the_end(run_id)
    best = Run.objects.get().best_version
    url = f"/api/v1/prompts/{prompt.pk}/versions/{best.number}/"
    assert client.get(url).json()["held_back"] == best.held_back != ""
    refused = client.post(url + "request-review/", {"comment": "Please."}, format="json")
    assert refused.status_code == 400 and "write why in the override" in error_of(refused)["message"]
    sent = client.post(url + "request-review/", {"override": "Majority answers are what we want here."},
                       format="json")
    assert sent.status_code == 200 and sent.json()["status"] == "in_review"
    log = client.get("/api/v1/audit/").json()["results"]
    assert log[0]["override"] == "Majority answers are what we want here."
