"""The policy strategy through every door (page, API, CLI), and manage.py train_policy."""

import html
import io
import json
import subprocess
import sys

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.test import Client

from optimization.models import Run
from optimization.policy import files, replay, training
from optimization.services import prompt_create, run_create, run_estimate
from promptopt.errors import PromptOptError
from tests import test_loop
from tests.support.api import API_URLS, error_of, token_client
from tests.test_policy import TABLE, TINY

student = test_loop.student  # the loopback model, a fixture here too
NO_POLICY = "The policy strategy needs a trained policy, and storage has none at 'policies/default.zip'"
LAUNCH = {"primary_provider": "openai", "primary_model": "", "optimizer_provider": "openai", "optimizer_model": "",
          "metric": "exact_match", "strategy": "policy", "target": "0.9", "patience": "3", "max_iterations": "2",
          "candidates_per_iteration": "2", "examples_per_split": "10", "max_llm_calls": "", "max_tokens": "",
          "max_cost": "", "temperature": "0", "seed": "1", "use_cache": "on", "version": ""}


@pytest.fixture(autouse=True)
def media(settings, tmp_path, monkeypatch):
    """Storage in a fresh directory, and no policy shipped with the code (test_policy_shipped.py has that one)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr(files, "SHIPPED_DIR", tmp_path / "shipped")


@pytest.fixture
def prompt(dataset, editor):
    return prompt_create(team=dataset.team, name="sports", created_by=editor)


@pytest.fixture
def policy(dataset, student):
    """A policy trained for a few hundred steps: enough to be a real one, not to be a good one."""
    table, _, _ = replay.build_or_reuse(dataset, **TABLE)
    model, record = training.train([table], timesteps=256, seed=0, hyperparameters=TINY)
    training.save(model, record, "policies/default.zip")


def page_client(user):
    client = Client()
    client.force_login(user)
    return client


def launch_on_the_page(user, dataset, prompt):
    return page_client(user).post("/runs/new/", LAUNCH | {"dataset": dataset.pk, "prompt": prompt.pk, "launch": "1"})


def start_over_the_api(user, dataset, prompt):
    parameters = {name: LAUNCH[name] for name in ("primary_provider", "optimizer_provider", "strategy")}
    return token_client(user).post("/api/v1/runs/", {"dataset": dataset.pk, "prompt": prompt.pk, **parameters,
                                                     "examples_per_split": 10}, format="json")


def optimize(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("optimize", "--dataset", "sports", "--prompt", "sports", "--primary-provider", "openai",
                 "--optimizer-provider", "openai", "--examples", "10", "--seed", "1", "--strategy", "policy",
                 "--max-iterations", "2", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_without_a_trained_policy_every_door_refuses_the_run_and_says_what_to_do(dataset, prompt, editor):
    with pytest.raises(PromptOptError, match=NO_POLICY):
        run_create(dataset=dataset, start_version=prompt.versions.get(), strategy="policy", enqueue=False)
    page = launch_on_the_page(editor, dataset, prompt)
    assert page.status_code == 200 and NO_POLICY in html.unescape(page.content.decode())
    with pytest.raises(CommandError, match="manage.py train_policy --dataset NAME"):
        optimize()
    assert not Run.objects.exists()


@API_URLS
def test_without_a_trained_policy_the_api_refuses_the_run(dataset, prompt, editor):
    response = start_over_the_api(editor, dataset, prompt)
    assert response.status_code == 400 and error_of(response)["message"].startswith(NO_POLICY)
    assert not Run.objects.exists()


def test_the_launch_page_offers_the_policy_and_starts_its_run(dataset, prompt, editor, policy):
    assert 'value="policy"' in page_client(editor).get("/runs/new/").content.decode()
    response = launch_on_the_page(editor, dataset, prompt)
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/runs/{run.pk}/"
    assert run.strategy == "policy"
    # Both rewrites in one iteration at worst: 1 + 2 optimizer calls.
    assert run.estimated_calls == run_estimate(dataset=dataset, strategy="operators", max_iterations=2,
                                               candidates_per_iteration=2, examples_per_split=10) + 2 * 3


@API_URLS
def test_the_api_starts_a_policy_run(dataset, prompt, editor, policy):
    response = start_over_the_api(editor, dataset, prompt)
    assert response.status_code == 202, response.content
    assert response.json()["parameters"]["strategy"] == "policy"


def test_the_cli_runs_a_policy_run_to_the_end(dataset, prompt, policy):
    result = json.loads(optimize("--json"))
    assert result["status"] == "succeeded"
    run = Run.objects.get(pk=result["run_id"])
    notes = [version.note for iteration in run.iterations.all() for version in iteration.candidates.all()]
    assert run.stop_reason.startswith("The policy chose to stop") or notes
    assert all(note.startswith("Policy chose: ") for note in notes)


def train_policy(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("train_policy", "--dataset", "sports", "--primary-provider", "openai", "--optimizer-provider",
                 "openai", "--examples", "10", "--seed", "1", "--timesteps", "256", *args, stdout=out, stderr=err)
    return json.loads(out.getvalue()), err.getvalue()


def test_train_policy_builds_the_table_once_trains_and_keeps_the_policy_with_what_it_saw(dataset, student):
    result, log = train_policy("--output", "policies/sports.zip")
    assert result == {"policy": "policies/sports.zip", "record": "policies/sports.json", "datasets": ["sports"]}
    assert "20 states" in log and "LLM calls paid" in log and "meta_prompt unavailable" in log
    record = json.loads(default_storage.open("policies/sports.json").read())
    assert record["datasets"] == [{"id": dataset.pk, "name": "sports"}] and record["timesteps"] == 256
    assert record["tables"][0]["parameters"]["primary_provider"] == "openai"
    training.load("policies/sports.zip")

    requests = len(student.requests)
    _, log = train_policy("--output", "policies/sports.zip")
    assert "kept from before" in log and len(student.requests) == requests


def test_train_policy_names_what_it_cannot_find(dataset):
    with pytest.raises(CommandError, match="has no dataset named 'nope'"):
        call_command("train_policy", "--dataset", "nope", stdout=io.StringIO(), stderr=io.StringIO())


def test_pages_and_the_api_do_not_load_torch_or_gymnasium(settings):
    code = ("import sys, django; django.setup(); import optimization.views.prompts, optimization.views.runs, "
            "optimization.api.views, optimization.api.production, "
            "optimization.strategies.policy, optimization.loop; "
            "print(sorted({'torch', 'gymnasium', 'stable_baselines3'} & set(sys.modules)))")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           cwd=settings.BASE_DIR,
                           env={"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin"})
    assert shown.stdout.strip() == "[]"
