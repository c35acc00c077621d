"""A replay table: every prompt the learning optimizer can reach on one task (reachable.py's states), scored once.
PPO trains on tables (env.py, where each edit leads: reachable.moves) and never calls a model while it does.

A state's prompt is made by the strategies' own edits (strategies/edits.py), applied in that order to the state's
text, the demonstrations drawn with the draw's own random generator: a state is always the same prompt. Each distinct
prompt answers the validation examples once, through the LLM layer (so its cache keeps the answers, and building
the table again costs no call), and is scored with the metric, as a run would.

What it simplifies, knowingly: in a live run a rewrite rewrites the current prompt and a second rewrite gives new
words; here each rewrite is made once, from the start's words, with the rules and demonstrations put back on top,
and asking for the same rewrite again changes nothing (and still costs its optimizer calls).
"""

import dataclasses
import hashlib
import json
import random

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from datasets.models import Split
from optimization import answers, loop, metrics
from optimization.llm import LLMError, Request, complete_batch
from optimization.models import Run
from optimization.prompting import answer_token_budget, messages_for, prompt_file
from optimization.services import _check_parameters, run_parameters
from optimization.strategies import Candidate, Failure, OptimizerError, Situation
from optimization.strategies.edits import EDIT_BY_NAME, STOP
from promptopt.errors import PromptOptError

from .features import task_statistics
from .reachable import REWRITES, State, all_states

TABLE_FORMAT = 1  # a table of another format is built again, not read
TABLES_DIR = "policies/tables"
# The run parameters a table depends on; the others (iterations, budget, strategy...) are the policy's business.
TABLE_PARAMETERS = (
    "primary_provider", "primary_model", "optimizer_provider", "optimizer_model", "metric", "metric_options",
    "examples_per_split", "temperature", "seed",
)


def prompt_of(state, texts, situation, seed):
    """The prompt of a state, made by the strategies' edits from the state's text."""
    candidate = texts[state.text]
    if state.format:
        candidate = EDIT_BY_NAME["state_format"].apply(candidate, situation) or candidate
    if state.length:
        candidate = EDIT_BY_NAME["limit_length"].apply(candidate, situation) or candidate
    drawing = dataclasses.replace(situation, rng=random.Random(f"{seed}:draw:{state.draw}"))
    for _ in range(state.level):
        candidate = EDIT_BY_NAME["add_demonstrations"].apply(candidate, drawing)
    return candidate


def default_start():
    """The default starting prompt (prompts/), as a new prompt gets it."""
    return Candidate(prompt_file("initial_system.txt").strip(), prompt_file("initial_output.txt").strip(), (),
                     "First version.")


class _Scorer:
    """Answers and scores prompts on the validation examples the way a run with these parameters would."""

    def __init__(self, run):
        self.run = run
        self.validation = loop.selected_examples(run, Split.VALIDATION)
        self.max_tokens = answer_token_budget(answers.answers_of(run))
        self.paid = self.cached = 0

    def answer(self, candidate):
        run = self.run
        requests = [Request(messages_for(candidate, example.input), temperature=run.temperature,
                            max_tokens=self.max_tokens) for example in self.validation]
        completions = complete_batch(requests, provider=run.primary_provider, model=run.primary_model,
                                     purpose="policy table")
        self._count(completions)
        outputs = [completion.text for completion in completions]
        try:
            per_example = metrics.score(
                run.metric, outputs, [example.answers for example in self.validation],
                choices=[example.choices for example in self.validation], options=run.metric_options,
            )
        except ValueError as exc:
            raise PromptOptError(f"The metric {run.metric} cannot score these answers: {exc}") from None
        return outputs, per_example

    def ask(self, messages, json_schema=None):
        """The optimizer model, asked as loop.ask_optimizer asks it, outside any run."""
        request = Request(messages, temperature=loop.OPTIMIZER_TEMPERATURE, max_tokens=1024, schema=json_schema,
                          sample=1)
        try:
            completions = complete_batch([request], provider=self.run.optimizer_provider,
                                         model=self.run.optimizer_model, purpose="policy table")
        except LLMError as exc:
            if exc.retryable:
                raise
            raise OptimizerError(f"The optimizer model refused the request: {exc.message}") from exc
        self._count(completions)
        return completions[0].text

    def _count(self, completions):
        for completion in completions:
            self.cached += completion.cached
            self.paid += not completion.cached


def build(dataset, start=None, *, progress=None, **parameters):
    """The replay table of `dataset` from `start` (default: the default starting prompt), for run parameters
    (those of TABLE_PARAMETERS; the rest keep their defaults). `progress(done, total)` is told after each prompt."""
    start = start or default_start()
    params = run_parameters(**parameters)
    _check_parameters(dataset, params)
    run = Run(dataset=dataset, **params)  # never saved: it holds the parameters the loop's helpers read
    scorer = _Scorer(run)
    train = loop.selected_examples(run, Split.TRAIN)
    start_outputs, start_scores = scorer.answer(start)
    wrong = [Failure(e.input, output, e.expected)
             for e, output, value in zip(scorer.validation, start_outputs, start_scores) if value < 1]
    rng = random.Random(f"{run.seed}:table")
    situation = Situation(
        current=start,
        history=[(start, sum(start_scores) / len(start_scores))],
        failures=rng.sample(wrong, min(loop.FAILURES_SHOWN, len(wrong))),
        train=[(example.input, example.expected) for example in train],
        choices=loop.shared_choices(train),
        k=1,
        iteration=1,
        rng=rng,
        ask=scorer.ask,
    )
    texts, errors = {"start": start}, {}
    for name in REWRITES:
        try:
            rewritten = EDIT_BY_NAME[name].apply(start, situation)
        except OptimizerError as exc:
            errors[name] = exc.message
            continue
        texts[name] = Candidate(rewritten.system_prompt, rewritten.output_instruction, start.demonstrations,
                                rewritten.note)

    states, prompts, answered = {}, {}, {}
    all_of_them = list(all_states(texts))
    for done, state in enumerate(all_of_them, 1):
        candidate = prompt_of(state, texts, situation, run.seed)
        if candidate.key() not in answered:
            answered[candidate.key()] = scorer.answer(candidate)
        outputs, per_example = answered[candidate.key()]
        prompts[state.key] = candidate
        states[state.key] = {
            "score": sum(per_example) / len(per_example),
            "outputs": outputs,
            "prompt": {"system_prompt": candidate.system_prompt, "output_instruction": candidate.output_instruction,
                       "demonstrations": list(candidate.demonstrations), "note": candidate.note},
        }
        if progress:
            progress(done, len(all_of_them))

    return {
        "format": TABLE_FORMAT,
        "dataset": {"id": dataset.pk, "name": dataset.name},
        "parameters": parameters_of(parameters),
        "task": task_statistics([expected for _, expected in situation.train], situation.choices),
        "expected": [example.expected for example in scorer.validation],
        "start": State().key,
        "stop": STOP,
        "rewrite_errors": errors,
        "states": states,
        "llm_calls": {"paid": scorer.paid, "cached": scorer.cached, "prompts": len(answered)},
    }


def parameters_of(parameters):
    """The table parameters of runs with these parameters (the others at their defaults), as a table records them."""
    params = run_parameters(**parameters)
    return {name: _plain(params[name]) for name in TABLE_PARAMETERS}


def _plain(value):
    return value if isinstance(value, (str, int, float, bool, dict, list, type(None))) else str(value)


def table_name(dataset, start, parameters):
    """Where the table of these inputs is kept in storage: the same inputs, the same name."""
    identity = json.dumps(
        [TABLE_FORMAT, dataset.pk, dataset.name, start.key(), parameters_of(parameters)],
        sort_keys=True, default=str,
    )
    return f"{TABLES_DIR}/{dataset.pk}-{hashlib.sha256(identity.encode()).hexdigest()[:16]}.json"


def build_or_reuse(dataset, start=None, *, rebuild=False, progress=None, **parameters):
    """(table, its name in storage, whether it was reused): a table kept from before, or one built and kept."""
    start = start or default_start()
    name = table_name(dataset, start, parameters)
    if not rebuild and default_storage.exists(name):
        with default_storage.open(name) as stored:
            table = json.loads(stored.read())
        if table.get("format") == TABLE_FORMAT:
            return table, name, True
    table = build(dataset, start, progress=progress, **parameters)
    if default_storage.exists(name):
        default_storage.delete(name)
    default_storage.save(name, ContentFile(json.dumps(table).encode()))
    return table, name, False
