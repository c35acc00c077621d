"""`manage.py optimize`: the loop in the foreground, one JSON object on stdout."""

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

from optimization.models import Prompt
from optimization.prompting import prompt_file
from tests.loopback.student import StudentModel


@pytest.fixture
def student(dataset, settings):
    with StudentModel(dict(dataset.examples.values_list("input", "expected"))) as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = server.base_url, "k"
        yield server


def optimize(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("optimize", "--dataset", "sports", "--prompt", "judge", "--primary-provider", "openai",
                 "--examples", "10", "--seed", "3", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_prints_one_json_object_with_the_result(dataset, student):
    out, err = optimize("--json", "--max-iterations", "2")
    result = json.loads(out)
    assert set(result) >= {"run_id", "status", "start", "best", "test_delta", "ci_low", "ci_high", "p_value",
                           "iterations", "llm_calls", "tokens", "cache_hits", "best_version_id"}
    assert result["status"] == "succeeded"
    assert (result["start"]["test"], result["best"]["test"], result["test_delta"]) == (0.0, 1.0, 1.0)
    assert result["llm_calls"] > 0 and result["tokens"] > 0
    assert "iterations" in err  # the progress bar goes to stderr


def test_the_prompt_is_created_from_the_default_starting_prompt(dataset, student):
    optimize("--json")
    first = Prompt.objects.get(name="judge").versions.get(number=1)
    assert first.system_prompt == prompt_file("initial_system.txt").strip()
    assert first.output_instruction == prompt_file("initial_output.txt").strip()


def test_the_same_command_again_starts_from_the_same_version_and_pays_for_nothing(dataset, student):
    first = json.loads(optimize("--json")[0])
    second = json.loads(optimize("--json")[0])
    assert second["llm_calls"] == 0
    assert second["cache_hits"] == first["llm_calls"]
    assert second["best"] == first["best"]


def test_the_plain_output_shows_the_test_scores_before_and_after(dataset, student):
    out, _ = optimize()
    assert re.search(r"Test score: start 0\.000 -> best 1\.000 \(difference 1\.000, "
                     r"95% CI \[\d\.\d{3}, \d\.\d{3}\], p = [-\d.e]+\)", out), out


def test_an_unknown_dataset_is_a_clear_error(dataset, student):
    with pytest.raises(CommandError, match="has no dataset named 'nope'"):
        call_command("optimize", "--dataset", "nope", "--prompt", "judge")
