"""Optimizer strategies: each proposes new candidate prompts from what the loop has seen so far.

A strategy gets a `Situation` and returns `Candidate`s; it never touches the database. Strategies that call
the optimizer model do it through `situation.ask`, which goes through the LLM layer (cache, retries,
accounting). An answer they cannot use raises `OptimizerError`, which the loop records and survives.

Each strategy is a module that declares its `DESCRIPTION`, its `OPTIMIZER_CALLS` per iteration (at most) and
`propose(situation)`, and may declare `require_ready()`, which refuses a run before it starts; `registry.py` lists
them, the one place a new strategy is added.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from promptopt.errors import PromptOptError


class OptimizerError(PromptOptError):
    pass


class StopOptimizing(PromptOptError):
    """A strategy's decision that no edit is worth its calls: the loop stops iterating, with this as the reason."""


@dataclass(frozen=True)
class Candidate:
    system_prompt: str
    output_instruction: str
    demonstrations: tuple = ()
    note: str = ""

    def key(self):
        """What makes two candidates the same prompt, whatever their notes."""
        demonstrations = tuple((demo["input"], demo["output"]) for demo in self.demonstrations)
        return (self.system_prompt.strip(), self.output_instruction.strip(), demonstrations)


@dataclass
class Failure:
    input: str
    output: str
    expected: str


@dataclass
class Situation:
    current: Candidate
    history: list  # [(Candidate, score)], ascending by score
    failures: list  # [Failure], a sample
    train: list  # [(input, expected)] from the train split, for demonstrations
    choices: list | None  # the answers every example picks from, when they share them
    k: int
    iteration: int
    rng: object  # random.Random, seeded per run and iteration
    ask: Callable = field(default=None, repr=False)  # ask(messages, json_schema=None) -> str
    answers: list = field(default_factory=list)  # [(output, expected)]: every validation answer of the current
    max_iterations: int = 0  # the run's limit (0: unknown)
    budget_left: float = 1.0  # the share of the run's LLM-call budget (its cap, else its estimate) not spent
    iterations_without_improvement: int = 0  # since the current best was found (or the run began)


def prompt_length(prompt):
    """The characters a prompt (a Candidate or a Version) sends: its words and demonstrations. Of prompts that
    score the same, racing and the policy's environment keep the shorter."""
    return len(prompt.system_prompt) + len(prompt.output_instruction) + sum(
        len(d.get("input", "")) + len(d.get("output", "")) for d in prompt.demonstrations
    )
