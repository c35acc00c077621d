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
                           "iterations", "llm_calls", "tokens", "cache_hits", "best_version_id", "baseline",
                           "constant_answer", "verdict", "offered_for_review"}
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


def test_the_json_has_the_baseline_beside_the_start_and_the_best(dataset, student):
    result = json.loads(optimize("--json")[0])
    baseline = result["baseline"]
    assert baseline["answer"] in {"plausible", "implausible"}
    assert 0 < baseline["test"] < 1 and 0 < baseline["validation"] < 1  # the test split's labels are mixed
    assert baseline["test_delta"] == pytest.approx(result["best"]["test"] - baseline["test"])
    assert result["offered_for_review"] is True and result["verdict"].startswith("v")
    assert result["constant_answer"]["best"] == {"validation": False, "test": False}


def test_the_plain_output_says_whether_the_loop_beat_the_baseline(dataset, student):
    out, _ = optimize()
    # 10 test examples: the best's 1.000 against the baseline's 0.700 is 3 discordant pairs, which could be chance.
    assert "Baseline, always answering 'plausible' (chosen on train): test 0.700 (best - baseline 0.300, 95% CI " \
           "[0.000, 0.600], p = 0.25): the loop beat the baseline, by a difference that could be chance." in out, out
    assert "Verdict: v" in out and "is offered for review" in out
    assert "Best: validation 1.000, test 1.000 (overfitting gauge +0.000); racing saved 5 answers." in out
    student.answers = {text: "plausible" for text in student.answers}
    out, _ = optimize("--no-cache")
    assert "test 0.700 (best - baseline 0.000, 95% CI [0.000, 0.000], p = 1): the loop did NOT beat the " \
           "baseline." in out, out
    assert "is not offered for review" in out and "it learned a constant answer, not the task" in out


def test_an_unknown_dataset_is_a_clear_error(dataset, student):
    with pytest.raises(CommandError, match="has no dataset named 'nope'"):
        call_command("optimize", "--dataset", "nope", "--prompt", "judge")


def test_when_nothing_beat_the_start_the_output_does_not_credit_the_loop(dataset, student):
    student.answers = {}  # never right: no candidate beats the start
    out, _ = optimize("--max-iterations", "1")
    assert "the start (the loop found nothing better) did NOT beat the baseline." in out, out
    assert "Verdict: No candidate beat the start on the validation split" in out
