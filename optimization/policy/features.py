"""What the policy sees of a run: one vector of numbers in [0, 1], the same in training and in a live run.

The replayed environment computes it from a replay table's stored answers; the `policy` strategy from the
run's situation. Both call `observe`, so the policy never meets a feature computed two ways.
"""

from collections import Counter

import numpy as np

from optimization.strategies.edits import EDITS
from optimization.strategies.operators import FORMAT_MARK, LENGTH_MARK

FEATURES = (
    "validation score",  # of the current best prompt
    "answer-format failures",  # share of its answers not in the gold labels' form
    "demonstrations",  # how many it shows, of MAX_DEMONSTRATIONS
    "format rule",  # whether it states the answer format
    "length rule",  # whether it limits the answer's length
    "label spread",  # total-variation distance between its answers' and the gold labels' distributions
    "majority answer share",  # share of its answers that are its most common answer (1: it always says one thing)
    "iteration",  # share of the run's iterations done
    "budget left",  # share of the run's LLM-call budget not spent
    "task has choices",
    "task choices",  # how many, of MAX_CHOICES
    "task answer words",  # mean words of a gold answer, of MAX_ANSWER_WORDS
    "task majority label share",  # the constant answer's share of the gold labels
    # whether this iteration has chosen the edit already: its next choice is made knowing the others
    *(f"chosen: {edit.name}" for edit in EDITS),
)
MAX_DEMONSTRATIONS = 12
MAX_CHOICES = 10
MAX_ANSWER_WORDS = 20


def normalized(answer):
    return " ".join(str(answer).lower().split()).strip(" .!\"'")


def task_statistics(train_answers, choices):
    """The task's answer-type statistics, from its train split's answers and its shared choices (or None)."""
    labels = Counter(normalized(answer) for answer in train_answers)
    return {
        "choices": [normalized(choice) for choice in choices] if choices else None,
        "answer_words": sum(len(answer.split()) for answer in train_answers) / max(1, len(train_answers)),
        "longest_answer_words": max((len(answer.split()) for answer in train_answers), default=0),
        "majority_label_share": max(labels.values()) / len(train_answers) if train_answers else 0.0,
    }


def format_failures(outputs, task):
    """The share of answers not in the form of the gold labels: not one of the choices, or longer than any."""
    if not outputs:
        return 0.0
    if task["choices"]:
        allowed = set(task["choices"])
        return sum(normalized(output) not in allowed for output in outputs) / len(outputs)
    longest = max(1, task["longest_answer_words"])
    return sum(len(str(output).split()) > longest for output in outputs) / len(outputs)


def label_spread(outputs, expected):
    """How far the answers' distribution is from the gold labels' (0: the same mix, 1: nothing in common)."""
    if not outputs:
        return 0.0
    said, gold = Counter(map(normalized, outputs)), Counter(map(normalized, expected))
    return 0.5 * sum(abs(said[label] / len(outputs) - gold[label] / len(expected)) for label in said | gold)


def observe(*, candidate, score, outputs, expected, task, iteration_share, budget_left, chosen=()):
    """The observation for a current best prompt (a Candidate), its validation score and answers, and the names of
    the edits the iteration has chosen so far."""
    said = Counter(map(normalized, outputs))
    values = [
        score,
        format_failures(outputs, task),
        min(len(candidate.demonstrations), MAX_DEMONSTRATIONS) / MAX_DEMONSTRATIONS,
        float(FORMAT_MARK in candidate.output_instruction),
        float(LENGTH_MARK in candidate.output_instruction),
        label_spread(outputs, expected),
        max(said.values()) / len(outputs) if outputs else 0.0,
        iteration_share,
        budget_left,
        float(bool(task["choices"])),
        min(len(task["choices"] or ()), MAX_CHOICES) / MAX_CHOICES,
        min(task["answer_words"], MAX_ANSWER_WORDS) / MAX_ANSWER_WORDS,
        task["majority_label_share"],
        *(float(edit.name in chosen) for edit in EDITS),
    ]
    return np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
