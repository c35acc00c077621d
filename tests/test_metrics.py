import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from optimization import metrics
from optimization.metrics import score

ROOT = Path(__file__).resolve().parent.parent


def bigbench(task):
    with open(ROOT / "data" / "bigbench" / f"{task}.json", encoding="utf-8") as file:
        return json.load(file)["examples"]


def acceptable(example):
    """The expected answer first, then the alternatives, as the loop passes them."""
    if "target_scores" in example:
        scores = example["target_scores"]
        return [max(scores, key=scores.get)]
    target = example["target"]
    return target if isinstance(target, list) else [target]


COUNTING = bigbench("object_counting")[0]  # "... clarinet, a violin, and a flute ...": ["three", "3"]
TENSE = bigbench("tense")[0]  # "She has applied for the job."
SPORTS = bigbench("sports_understanding")
PLAUSIBLE, IMPLAUSIBLE = SPORTS[0], SPORTS[3]
INTENT = bigbench("intent_recognition")[1]  # book_restaurant, among seven intents


def choice_scores(example, *predictions):
    return score(
        "choice_accuracy",
        list(predictions),
        [acceptable(example)] * len(predictions),
        choices=[list(example["target_scores"])] * len(predictions),
    )


def test_exact_match_accepts_any_of_the_acceptable_answers():
    assert acceptable(COUNTING) == ["three", "3"]
    assert score("exact_match", ["three", "3", "4", "three or 3"], [acceptable(COUNTING)] * 4) == [1, 1, 0, 0]


@pytest.mark.parametrize(
    "option, prediction",
    [
        ("ignore_case", "She has applied for the JOB."),
        ("collapse_whitespace", "  She has applied\nfor the job.\n"),
        ("strip_trailing_punctuation", "She has applied for the job"),
    ],
)
def test_each_normalisation_option_makes_a_difference(option, prediction):
    references = [acceptable(TENSE)]
    assert score("exact_match", [prediction], references) == [1.0]
    assert score("exact_match", [prediction], references, options={option: False}) == [0.0]


def test_trailing_punctuation_is_stripped_from_the_answer_and_the_expected_answer():
    assert score("exact_match", ["three!"], [["three."]], options={"ignore_case": False}) == [1.0]
    assert score("exact_match", ["thr.ee"], [["three"]]) == [0.0]


def test_choice_accuracy_counts_an_answer_that_names_the_expected_choice():
    assert choice_scores(PLAUSIBLE, "plausible", "Plausible.", "The sentence is plausible") == [1, 1, 1]
    assert choice_scores(IMPLAUSIBLE, "implausible", "plausible") == [1, 0]
    assert choice_scores(INTENT, "Intent: book_restaurant", "rate_book", "book restaurant") == [1, 0, 0]


def test_choice_accuracy_is_wrong_when_the_answer_names_two_choices_or_none():
    assert choice_scores(PLAUSIBLE, "plausible or implausible", "It is not implausible, it is plausible") == [0, 0]
    assert choice_scores(PLAUSIBLE, "I cannot tell", "") == [0, 0]


def test_a_choice_inside_a_longer_named_choice_is_not_named_itself():
    choices = [["yes", "yes, but only once", "no"]] * 2
    references = [["yes, but only once"]] * 2
    assert score("choice_accuracy", ["Yes, but only once.", "yes"], references, choices=choices) == [1, 0]


def test_choice_accuracy_needs_choices_that_include_the_expected_answer():
    with pytest.raises(ValueError, match="choices"):
        score("choice_accuracy", ["plausible"], [["plausible"]])
    with pytest.raises(ValueError, match="not among its choices"):
        score("choice_accuracy", ["maybe"], [["maybe"]], choices=[["plausible", "implausible"]])


def test_contains_finds_the_expected_answer_as_whole_words():
    references = [acceptable(COUNTING)] * 3
    assert score("contains", ["You have 3 instruments.", "Three.", "13"], references) == [1, 1, 0]
    assert score("contains", ["implausible"], [acceptable(PLAUSIBLE)]) == [0]


def test_token_f1_gives_partial_credit_against_the_closest_answer():
    [partial] = score("token_f1", ["She applied for the job."], [acceptable(TENSE)])
    assert 0 < partial < 1
    assert score("token_f1", ["3"], [acceptable(COUNTING)]) == [1.0]
    assert score("token_f1", ["five"], [acceptable(COUNTING)]) == [0.0]


@pytest.mark.parametrize("metric", ["bleu", "chrf", "rouge_l", "token_f1"])
def test_a_closer_paraphrase_scores_higher(metric):
    expected = acceptable(TENSE)[0]
    answers = [expected, "She has applied for the position.", "She has sent an application.", "He went home."]
    scores = score(metric, answers, [[expected]] * len(answers))
    assert scores[0] == 1.0
    assert scores[0] > scores[1] > scores[2] > scores[3] >= 0, scores


@pytest.mark.parametrize("metric", ["bleu", "chrf", "rouge_l"])
def test_an_alternative_that_matches_gives_full_marks(metric):
    [one] = score(metric, ["I have received his reply."], [["I had received his reply.", "I have received his reply."]])
    assert one == 1.0


def test_rouge_l_scores_answers_outside_the_latin_alphabet():
    # rouge-score's own tokenizer drops every non-ASCII letter, so this would score 0.
    assert score("rouge_l", ["Она подала заявку"], [["Она подала заявку"]]) == [1.0]


def test_regex_searches_the_answer_for_the_pattern_option():
    scores = score("regex", ["18", "18.", "eighteen", "about 18 items"], [["18"]] * 4, options={"pattern": r"^\d+$"})
    assert scores == [1, 1, 0, 0]


def test_regex_without_a_pattern_reads_the_expected_answer_as_one_that_must_match_whole():
    references = [[r"(three|3)( instruments)?"]] * 4
    assert score("regex", ["3", "Three instruments.", "3 instruments and a drum", "13"], references) == [1, 1, 0, 0]


def test_regex_reports_a_pattern_that_does_not_compile_and_keeps_working():
    with pytest.raises(ValueError, match=r"not a valid regular expression"):
        score("regex", ["18"], [["18"]], options={"pattern": "(18"})
    with pytest.raises(ValueError, match=r"Example 1: the expected answer '\[' is not a valid"):
        score("regex", ["18", "18"], [["18"], ["["]])
    assert score("regex", ["18"], [["18"]], options={"pattern": "18"}) == [1.0]


def test_valid_json():
    answers = ['{"count": 3}', " [1, 2]\n", '```json\n{"count": 3}\n```', "{'count': 3}", "NaN", "three"]
    assert score("valid_json", answers, [[""]] * len(answers)) == [1, 1, 0, 0, 0, 0]


def test_unknown_metric_and_bad_options_are_refused():
    with pytest.raises(ValueError, match="Unknown metric 'accuracy'; the metrics are: exact_match"):
        score("accuracy", ["3"], [["3"]])
    with pytest.raises(ValueError, match="Unknown metric"):
        metrics.is_binary("accuracy")
    with pytest.raises(ValueError, match="exact_match has no option 'ignore_articles'"):
        score("exact_match", ["3"], [["3"]], options={"ignore_articles": True})
    with pytest.raises(ValueError, match="bleu has no option 'ignore_case'; it takes none"):
        score("bleu", ["3"], [["3"]], options={"ignore_case": True})
    with pytest.raises(ValueError, match="must be true or false"):
        score("exact_match", ["3"], [["3"]], options={"ignore_case": "no"})


def test_every_answer_needs_its_expected_answers():
    with pytest.raises(ValueError, match="2 answers but 1 lists"):
        score("exact_match", ["3", "4"], [["3"]])
    with pytest.raises(ValueError, match="at least one expected answer"):
        score("exact_match", ["3"], [[]])
    assert score("exact_match", [], []) == []


@pytest.mark.parametrize("metric", list(metrics.METRICS))
def test_every_metric_gives_one_score_per_answer_from_0_to_1(metric):
    examples = [PLAUSIBLE, IMPLAUSIBLE, PLAUSIBLE]
    answers = ["plausible", "Definitely plausible, I think!", '{"answer": "implausible"}']
    scores = score(
        metric,
        answers,
        [acceptable(example) for example in examples],
        choices=[list(example["target_scores"]) for example in examples],
    )
    assert len(scores) == len(answers) and all(0 <= value <= 1 for value in scores)
    if metrics.is_binary(metric):
        assert set(scores) <= {0.0, 1.0}
    assert isinstance(metrics.METRICS[metric], str) and metrics.METRICS[metric]


def test_binary_metrics_are_the_right_or_wrong_ones():
    assert [name for name in metrics.METRICS if metrics.is_binary(name)] == [
        "exact_match",
        "choice_accuracy",
        "contains",
        "regex",
        "valid_json",
    ]


def test_scoring_a_thousand_answers_takes_well_under_a_second():
    examples = bigbench("object_counting")[:1000]
    references = [acceptable(example) for example in examples]
    predictions = [answers[-1] for answers in references]
    score("exact_match", predictions[:1], references[:1])  # loading is paid once per process
    started = time.perf_counter()
    scores = score("exact_match", predictions, references)
    assert time.perf_counter() - started < 1
    assert scores == [1.0] * len(examples)


def test_loading_the_metrics_leaves_the_datasets_app_logger_alone(caplog):
    score("exact_match", ["3"], [["3"]])
    assert not any(type(handler) is logging.StreamHandler for handler in logging.getLogger("datasets").handlers)
    with caplog.at_level(logging.INFO):
        logging.getLogger("datasets.services").info("imported 12 examples")
    assert "imported 12 examples" in caplog.text


def test_the_datasets_app_takes_no_name_of_a_hugging_face_datasets_submodule():
    import datasets

    score("exact_match", ["3"], [["3"]])
    ours, theirs = (Path(directory) for directory in datasets.__path__[:2])
    assert ours == ROOT / "datasets"
    assert submodules(ours) & submodules(theirs) == {"__init__"}


def submodules(directory):
    return {path.stem for path in directory.iterdir() if path.suffix == ".py" or (path / "__init__.py").exists()}


LOAD_OFFLINE = """
import inspect, json, socket
from pathlib import Path

def refuse(*args, **kwargs):
    raise OSError("the metrics tried to use the network")

socket.socket.connect = refuse
import django
django.setup()
from optimization import metrics

scores = metrics.score("exact_match", ["3", "five"], [["three", "3"], ["four", "4"]])
loaded = Path(inspect.getfile(type(metrics._module("exact_match")[0])))
print(json.dumps({
    "scores": scores,
    "loaded": str(loaded),
    "recorded_origin": json.loads(loaded.with_suffix(".json").read_text())["original file path"],
    "same_code": loaded.read_bytes() == (metrics.MODULES_DIR / "exact_match" / "exact_match.py").read_bytes(),
}))
"""


def test_metrics_load_from_the_repository_offline_with_an_unusable_home(tmp_path):
    home = tmp_path / "home"
    home.write_text("a file, so nothing can be created under HOME")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "XDG_"))}
    env.update(
        HF_HUB_OFFLINE="1",
        HOME=str(home),
        PROMPTOPT_VAR_DIR=str(tmp_path / "var"),
        DJANGO_SETTINGS_MODULE="promptopt.settings",
    )
    # Run from the project root, where the `datasets` app shadows Hugging Face's package.
    done = subprocess.run(
        [sys.executable, "-c", LOAD_OFFLINE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["scores"] == [1.0, 0.0]
    assert loaded["recorded_origin"] == str(ROOT / "optimization/metrics/modules/exact_match/exact_match.py")
    assert loaded["same_code"]
    assert Path(loaded["loaded"]).is_relative_to(tmp_path / "var" / "evaluate" / "modules")
