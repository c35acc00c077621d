"""The prompts the learning optimizer's edits can reach from a start, as states, and where each edit leads.

A prompt state is (text, format, length, level, draw):

    text     the wording: the start's, or the optimizer's rewrite of it ("meta_prompt", "critique")
    format   the answer-format rule is stated (the state_format edit)
    length   the length rule is stated (limit_length)
    level    rounds of add_demonstrations, 0 to MAX_LEVEL
    draw     which draw of demonstrations, 0 to DRAWS - 1 (swap_demonstrations moves to the next)

replay.py answers each state's prompt once and keeps them in a table; `moves` reads where the edits lead from the
table's states, so a table keeps only what was answered and a new edit made of known ones needs no new answers.
"""

import dataclasses
from dataclasses import dataclass

from optimization.strategies import Candidate
from optimization.strategies.edits import DEMONSTRATIONS_SHOWN, EDIT_BY_NAME
from optimization.strategies.operators import DEMONSTRATIONS_ADDED

MAX_LEVEL = DEMONSTRATIONS_SHOWN // DEMONSTRATIONS_ADDED  # rounds of add_demonstrations: 0, 3 or 6 shown
DRAWS = 2
REWRITES = ("meta_prompt", "critique")


@dataclass(frozen=True)
class State:
    text: str = "start"
    format: bool = False
    length: bool = False
    level: int = 0
    draw: int = 0

    @property
    def key(self):
        return f"{self.text}|format={int(self.format)}|length={int(self.length)}|demos={self.level}.{self.draw}"


def all_states(texts):
    for text in texts:
        for stated in (False, True):
            for limited in (False, True):
                for level in range(MAX_LEVEL + 1):
                    for draw in range(DRAWS if level else 1):
                        yield State(text, stated, limited, level, draw)


def after(state, action):
    """The state an edit leads to; the same state when it cannot apply."""
    if action == "state_format":
        return dataclasses.replace(state, format=True)
    if action == "limit_length":
        return dataclasses.replace(state, length=True)
    if action == "add_demonstrations":
        return dataclasses.replace(state, level=min(state.level + 1, MAX_LEVEL))
    if action == "format_and_demonstrations":
        if state.format or state.level == MAX_LEVEL:
            return state
        return dataclasses.replace(state, format=True, level=state.level + 1)
    if action == "swap_demonstrations":
        return dataclasses.replace(state, draw=(state.draw + 1) % DRAWS) if state.level else state
    return dataclasses.replace(state, text=action)  # a rewrite


def candidate(table, key):
    """The prompt of the state `key` of `table`, as a Candidate."""
    shown = table["states"][key]["prompt"]
    return Candidate(shown["system_prompt"], shown["output_instruction"], tuple(shown["demonstrations"]))


def moves(table):
    """Where each edit leads from each state of `table`, and the LLM calls it costs: {state key: {edit: {"next":
    state key, "calls": n}}}. An edit that cannot apply (or whose rewrite failed, or whose prompt is the same)
    leads back to its state and costs only its optimizer calls; one that leads elsewhere also answers the
    validation examples. Derived from the states, so a table keeps only what was answered."""
    states = table["states"]
    texts = [text for text in ("start", *REWRITES) if State(text).key in states]
    answering = len(table["expected"])

    def prompt(state):  # what the model is shown, whatever the note
        return candidate(table, state.key).key()

    result = {}
    for state in all_states(texts):
        result[state.key] = {}
        for name, edit in EDIT_BY_NAME.items():
            target = after(state, name)
            if target.key not in states or prompt(target) == prompt(state):
                target = state
            result[state.key][name] = {"next": target.key,
                                       "calls": edit.optimizer_calls + (0 if target == state else answering)}
    return result
