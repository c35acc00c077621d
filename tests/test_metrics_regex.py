"""The regex metric runs patterns people write: each match has a time limit, and a pattern that cannot compile
is refused before a run starts."""

import time

import pytest

from optimization import metrics
from optimization.metrics import patterns, score
from optimization.models import Run
from optimization.services import prompt_create, run_create
from promptopt.errors import PromptOptError

CATASTROPHIC = r"(a|aa)+$"  # exponential backtracking on "aaa…b", even in the regex package
ALMOST = "a" * 60 + "b"


def test_a_catastrophic_pattern_finishes_and_scores_the_answer_0(monkeypatch):
    monkeypatch.setattr(patterns, "MATCH_SECONDS", 0.2)
    started = time.monotonic()
    scores = score("regex", [ALMOST, "aaaa", ALMOST], [["x"]] * 3, options={"pattern": CATASTROPHIC})
    assert scores == [0.0, 1.0, 0.0]  # the plain answer still matches
    assert time.monotonic() - started < 5  # Python's re would take longer than the age of the universe


def test_an_expected_answer_read_as_a_catastrophic_pattern_finishes_too(monkeypatch):
    monkeypatch.setattr(patterns, "MATCH_SECONDS", 0.2)
    started = time.monotonic()
    assert score("regex", [ALMOST, "aa"], [[CATASTROPHIC], [CATASTROPHIC]]) == [0.0, 1.0]
    assert time.monotonic() - started < 5


def test_the_classic_nested_quantifier_finishes_at_once():
    started = time.monotonic()
    assert score("regex", ["a" * 40 + "b"], [["x"]], options={"pattern": r"(a+)+$"}) == [0.0]
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("pattern", ["(18", "[a-", "a{2,1}", "*a"])
def test_a_pattern_that_does_not_compile_is_named_when_the_options_are_checked(pattern):
    with pytest.raises(ValueError, match="The regex pattern .* is not a valid regular expression"):
        metrics.check_options("regex", {"pattern": pattern})


def test_a_run_with_a_broken_pattern_is_refused_before_it_starts(dataset, editor):
    prompt = prompt_create(team=dataset.team, name="p", created_by=editor)
    with pytest.raises(PromptOptError, match=r"The regex pattern '\(18' is not a valid regular expression"):
        run_create(dataset=dataset, start_version=prompt.versions.get(), created_by=editor, enqueue=False,
                   metric="regex", metric_options={"pattern": "(18"})
    assert not Run.objects.exists()


def test_the_launch_form_shows_the_pattern_error_beside_its_box(dataset, editor, person):
    prompt = prompt_create(team=dataset.team, name="p", created_by=editor)
    response = person.post("/runs/new/", {"dataset": dataset.pk, "prompt": prompt.pk, "metric": "regex",
                                          "metric_options": '{"pattern": "(18"}'})
    assert response.status_code == 200
    assert "is not a valid regular expression" in response.context["form"].errors["metric_options"][0]
    assert not Run.objects.exists()
