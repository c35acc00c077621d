"""The answers' spread beside the right answers, and the flag for a version that gives one answer to everything."""

from optimization.spread import CONSTANT_SHARE, LABEL_CHARS, NO_CHOICE, OTHERS, SHOWN, is_constant, spread_of

CHOICES = ["plausible", "implausible"]


def test_with_choices_each_answer_counts_as_the_choice_it_names_in_a_confusion_matrix():
    outputs = ["Plausible.", "implausible", "It is plausible", "I cannot say", "plausible or implausible"]
    expected = ["plausible", "plausible", "implausible", "implausible", "plausible"]
    spread = spread_of(outputs, expected, [CHOICES] * 5)
    assert spread["choices"] is True and spread["examples"] == 5
    assert spread["rows"] == [["plausible", 2, 3], ["implausible", 1, 2], [NO_CHOICE, 2, 0]]
    assert spread["confusion"] == {
        "rows": ["plausible", "implausible"],
        "columns": ["plausible", "implausible", NO_CHOICE],
        "counts": [[1, 1, 1], [1, 0, 1]],
    }
    assert (spread["top_answer"], spread["top_share"], spread["right_top_share"]) == ("plausible", 0.4, 0.6)


def test_labels_keep_the_datasets_spelling_and_follow_the_metrics_normalisation():
    spread = spread_of(["YES", "yes"], ["Yes", "Yes"], [["Yes", "No"]] * 2)
    assert spread["rows"] == [["Yes", 2, 2], ["No", 0, 0]]
    case_kept = spread_of(["YES", "Yes"], ["Yes", "Yes"], [["Yes", "No"]] * 2, {"ignore_case": False})
    assert case_kept["rows"] == [["Yes", 1, 2], ["No", 0, 0], [NO_CHOICE, 1, 0]]


def test_nearly_one_answer_to_everything_is_flagged_when_the_right_answers_vary():
    n = 20
    expected = ["plausible"] * 10 + ["implausible"] * 10
    almost_all = ["plausible"] * (n - 2) + ["implausible"] * 2  # 90 %
    assert CONSTANT_SHARE == 0.9 and is_constant(spread_of(almost_all, expected, [CHOICES] * n))
    one_more_differs = ["plausible"] * (n - 3) + ["implausible"] * 3  # 85 %
    assert not is_constant(spread_of(one_more_differs, expected, [CHOICES] * n))


def test_a_task_whose_right_answers_are_nearly_one_label_flags_nothing():
    expected = ["plausible"] * 19 + ["implausible"]
    assert not is_constant(spread_of(["plausible"] * 20, expected, [CHOICES] * 20))


def test_answers_that_name_no_choice_are_not_one_answer():
    spread = spread_of(["Well, it depends."] * 10, ["plausible", "implausible"] * 5, [CHOICES] * 10)
    assert spread["top_answer"] is None and not is_constant(spread)


def test_free_text_answers_are_compared_normalised_and_a_repeated_one_is_flagged():
    spread = spread_of(["Well, it depends.", "well, it depends"] * 5, ["three", "four"] * 5, [None] * 10)
    assert spread["choices"] is False and spread["confusion"] is None
    assert spread["rows"][0] == ["well, it depends", 10, 0]
    assert is_constant(spread)


def test_free_text_lists_the_most_frequent_answers_and_sums_the_rest():
    outputs = [str(i) for i in range(SHOWN + 5)] + ["0"] * 3
    spread = spread_of(outputs, ["0"] * len(outputs), [None] * len(outputs))
    assert spread["rows"][0] == ["0", 4, len(outputs)]
    assert spread["rows"][-1] == [OTHERS, 5, 0]
    assert sum(row[1] for row in spread["rows"]) == len(outputs)


def test_a_long_answer_is_counted_whole_and_kept_short():
    long = "word " * 100
    spread = spread_of([long + "a", long + "b", long + "a"], ["x"] * 3, [None] * 3)
    assert sorted(row[1] for row in spread["rows"]) == [0, 1, 2]  # two different answers, though they start alike
    assert all(len(row[0]) <= LABEL_CHARS for row in spread["rows"]) and spread["top_answer"].endswith("…")
