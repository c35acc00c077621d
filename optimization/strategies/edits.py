"""The edits the strategies know, by name: the actions of the learning optimizer (`policy`).

Each edit turns the current best prompt into one candidate, or None when it does not apply (the format is
already stated, there are no demonstrations to swap). The operators' edits cost nothing before their candidate
is scored; the two rewrites ask the optimizer model first, once (meta_prompt) or twice (critique).

`applicable` says which edits can change a prompt from its structure alone, without calling a model: a policy is
offered those (in training and in a live run alike), so it does not learn to spend a step on an edit that changes
nothing (the environment also withholds an edit whose prompt it answered before: policy/env.py).
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from . import critique, meta_prompt, operators
from .operators import FORMAT_MARK, LENGTH_MARK

DEMONSTRATIONS_SHOWN = 2 * operators.DEMONSTRATIONS_ADDED  # the most a policy's edits show: two rounds


@dataclass(frozen=True)
class Edit:
    name: str
    label: str  # in the words a run page shows
    apply: Callable  # apply(base, situation) -> Candidate | None
    optimizer_calls: int


def _rewrite(propose):
    """One prompt written by the optimizer model from `base`; its demonstrations carry over."""

    def apply(base, situation):
        return propose(dataclasses.replace(situation, current=base, k=1))[0]

    return apply


EDITS = (
    Edit("state_format", "state the answer format", operators.state_format, 0),
    Edit("add_demonstrations", "add demonstrations", operators.add_demonstrations, 0),
    Edit("format_and_demonstrations", "state the answer format and add demonstrations",
         operators.state_format_and_add_demonstrations, 0),
    Edit("swap_demonstrations", "swap the demonstrations", operators.swap_demonstrations, 0),
    Edit("limit_length", "limit the answer's length", operators.limit_length, 0),
    Edit("meta_prompt", "an optimizer-written rewrite", _rewrite(meta_prompt.propose), meta_prompt.OPTIMIZER_CALLS),
    Edit("critique", "a critique rewrite", _rewrite(critique.propose), critique.OPTIMIZER_CALLS),
)
EDIT_BY_NAME = {edit.name: edit for edit in EDITS}
STOP = "stop"
ACTIONS = (*EDIT_BY_NAME, STOP)  # the policy's action i is ACTIONS[i]
LABELS = {**{edit.name: edit.label for edit in EDITS}, STOP: "stop"}


def applicable(candidate):
    """{edit name: whether it can change `candidate`}, read from the prompt's structure."""
    stated = FORMAT_MARK in candidate.output_instruction
    room = len(candidate.demonstrations) < DEMONSTRATIONS_SHOWN
    return {
        "state_format": not stated,
        "add_demonstrations": room,
        "format_and_demonstrations": not stated and room,
        "swap_demonstrations": bool(candidate.demonstrations),
        "limit_length": LENGTH_MARK not in candidate.output_instruction,
        "meta_prompt": True,
        "critique": True,
    }
