"""The constant-answer baseline: the one answer that does best on the train split, given to every example."""

import pytest

from datasets.models import Example
from optimization.baseline import constant_answer

YES_NO = ["yes", "no"]


def examples(*expected, choices=YES_NO, alternatives=None):
    return [Example(expected=answer, alternatives=list(alternatives.get(answer, [])) if alternatives else [],
                    choices=list(choices) if choices else None)
            for answer in expected]


@pytest.mark.parametrize("metric", ["exact_match", "choice_accuracy"])
def test_with_choices_it_is_the_choice_right_most_often_on_train(metric):
    assert constant_answer(metric, {}, examples("no", "yes", "no", "no", "yes")) == "no"


def test_with_choices_the_metric_decides_not_the_count_of_labels():
    # "no" is the label three times, but each of those examples also takes "yes": "yes" is right on all five.
    train = examples("yes", "yes", "no", "no", "no", alternatives={"no": ["yes"]})
    assert constant_answer("exact_match", {}, train) == "yes"


def test_a_choice_never_expected_can_still_be_the_best_constant():
    # Only the metric knows: "yes and no" holds the word `contains` looks for in every example.
    train = examples("yes", "no", "yes", choices=["yes", "no", "yes and no"])
    assert constant_answer("contains", {}, train) == "yes and no"


def test_ties_go_to_the_answer_right_most_often_then_to_the_first_choice_listed():
    # valid_json scores every constant 0: the tie is broken by how often each is the right answer.
    assert constant_answer("valid_json", {}, examples("no", "yes", "no")) == "no"
    # A full tie (same score, same count) goes to the choice the dataset lists first, whatever the train order.
    assert constant_answer("exact_match", {}, examples("no", "yes", choices=["yes", "no"])) == "yes"
    assert constant_answer("exact_match", {}, examples("yes", "no", choices=["no", "yes"])) == "no"


def test_free_text_takes_the_most_frequent_right_answer_normalised_as_the_metric_compares():
    train = examples("Three.", "two", "three", "two ", "THREE", choices=None)
    assert constant_answer("exact_match", {}, train) == "Three."  # three counts 3 times, spelled as first seen
    # With case kept, "Three.", "three" and "THREE" are three answers; "two" (with or without the space) is two.
    assert constant_answer("exact_match", {"ignore_case": False}, train) == "two"


def test_free_text_ties_go_to_the_first_seen():
    assert constant_answer("token_f1", {}, examples("b", "a", "a", "b", choices=None)) == "b"


def test_choices_on_only_some_examples_make_it_free_text():
    train = examples("yes", "no", "no") + examples("yes", choices=None)
    assert constant_answer("exact_match", {}, train) == "yes"  # two each: the first seen
    assert constant_answer("exact_match", {}, train + examples("maybe", "maybe", "maybe", choices=None)) == "maybe"


def test_an_empty_train_split_is_a_clear_error():
    with pytest.raises(ValueError, match="train split"):
        constant_answer("exact_match", {}, [])
