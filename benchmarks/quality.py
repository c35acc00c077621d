"""What the loop finds on real tasks, beside the constant answer, the same loop without racing, and the whole grid
of its own edits.

Each task of data/bigbench/ is imported with a fixed seed into a throwaway database and optimized from the
default starting prompt with the default run settings (strategy `operators`), through the same services as
`manage.py optimize`, twice: with racing (the default `race_from`) and with every candidate scored on the whole
validation split (`race_from` 0). Beside the runs, the grid: every combination of the operators' format rules
(the answer format stated, the answer's length limited: none, either, both) with 0, 1, 3 or 5 demonstrations in 2
draws from the train split, each prompt scored on validation, the best of them (the top score, the shorter prompt
on a tie) scored on test. It is the ceiling of the edit space the operators search, and what finding it
exhaustively costs.

All three use the run's machinery (inference, scoring, the LLM ledger) on the same examples. "Calls" are the
answers each asked for, paid or from the LLM cache, which the three share: the second and third pay only for the
answers the first did not ask for, but each is counted as if it ran alone.

Prints per task the test-set size, the baseline, and for each run the start, the best and its test score, its
calls and its verdict; then the racing saving, the loop against the grid, and last `baseline ratio: X.XX`: the
mean test score of what the racing runs offer for review (the start, where a run offers nothing) over the mean
test score of the constant-answer baselines.

    python -m benchmarks.quality [--tasks sports_understanding,tense] [--examples-per-split 40]
                                 [--max-iterations 10] [--provider embedded] [--seed 0] [--no-grid]

`--no-grid` leaves the grid out (its 28 prompts answer the whole validation split: on the embedded model most of
the benchmark's time), for a measurement of racing and of the baseline alone.
"""

import argparse
import itertools
import random
from dataclasses import dataclass

from . import bigbench
from .bigbench import calls_of, mean, share

DEMONSTRATION_COUNTS = (0, 1, 3, 5)
DRAWS = 2


def options(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.split("\n\n")[0])
    bigbench.add_options(parser)
    parser.add_argument("--seed", type=int, default=0, help="The import's split and the runs' seed.")
    parser.add_argument("--no-grid", dest="grid", action="store_false",
                        help="Leave out the grid of the operators' edits (racing and the baseline only).")
    return bigbench.parsed(parser, argv)


@dataclass
class Outcome:
    """One way of finding a prompt on one task: what it picked, its scores, its calls."""

    label: str
    start_test: float | None  # None for the grid, whose prompts include the start's text
    best_validation: float
    best_test: float
    calls: int
    paid: int
    offered: bool
    words: str  # the verdict, or what the grid picked
    candidate_answers: int | None = None  # the candidates' answers on validation: all racing can save

    @property
    def offered_test(self):
        return self.best_test if self.offered else self.start_test


def optimized(dataset, prompt, parameters, race_from):
    """A run as `optimize` makes it, stepped in the foreground to the end."""
    from datasets.models import Split
    from optimization import loop, selectors

    run = bigbench.run_to_the_end(dataset, prompt, race_from=race_from, **parameters)
    summary = selectors.run_summary(run)
    calls, paid = calls_of(run)
    label = f"loop, racing from {race_from}" if race_from else "loop, no racing"
    words = run.verdict
    if race_from:
        words = f"{words} (Racing dropped candidates before {summary['calls_saved']} of their answers.)"
    outcome = Outcome(label, summary["start"]["test"], summary["best"]["validation"], summary["best"]["test"],
                      calls, paid, summary["offered_for_review"], words, candidate_answers(run))
    return outcome, summary, len(loop.selected_examples(run, Split.TEST))


def candidate_answers(run):
    """How many answers on validation the run's candidates were given (every version but the start's)."""
    from datasets.models import Split
    from optimization.models import Prediction

    return (Prediction.objects.filter(evaluation__run=run, evaluation__split=Split.VALIDATION,
                                      evaluation__version__isnull=False)
            .exclude(evaluation__version=run.start_version).count())


def grid_prompts(run):
    """The operators' edits of the run's start, every format rule with every number of demonstrations, as
    candidates (each prompt once)."""
    from datasets.models import Split
    from optimization import loop
    from optimization.strategies import Situation
    from optimization.strategies.operators import add_demonstrations, limit_length, state_format

    train = loop.selected_examples(run, Split.TRAIN)
    situation = Situation(
        current=loop.candidate_of(run.start_version), history=[], failures=[],
        train=[(example.input, example.expected) for example in train], choices=loop.shared_choices(train),
        k=1, iteration=0, rng=None,
    )
    rules = (state_format, limit_length)
    prompts = {}
    for chosen in itertools.chain.from_iterable(itertools.combinations(rules, n) for n in range(len(rules) + 1)):
        formatted = situation.current
        for rule in chosen:
            formatted = rule(formatted, situation) or formatted
        for count, draw in itertools.product(DEMONSTRATION_COUNTS, range(DRAWS)):
            situation.rng = random.Random(f"{run.seed}:grid:{count}:{draw}")
            candidate = add_demonstrations(formatted, situation, count=count) if count else formatted
            shown = f"{count} demonstration{'' if count == 1 else 's'}"
            note = "; ".join([*(rule.__name__.replace("_", " ") for rule in chosen), shown])
            prompts.setdefault(candidate.key(), (candidate, note))
    return list(prompts.values())


def grid(dataset, prompt, parameters):
    """Every grid prompt answers validation through the loop's inference and scoring, under a run of its own (for
    the ledger); the best of them on validation answers test."""
    from datasets.models import Split
    from optimization import loop, racing, selectors, services
    from optimization.models import PromptVersion, RunStatus

    run = services.run_create(dataset=dataset, start_version=selectors.start_version_of(prompt), enqueue=False,
                              **parameters)
    run.status = RunStatus.RUNNING
    run.save(update_fields=["status"])
    versions = []
    for candidate, note in grid_prompts(run):
        version = PromptVersion.objects.create(
            prompt=prompt, parent=run.start_version, created_by_run=run, note=f"Grid: {note}",
            system_prompt=candidate.system_prompt, output_instruction=candidate.output_instruction,
            demonstrations=list(candidate.demonstrations),
        )
        versions.append((loop.score(run, loop.infer(run, version, Split.VALIDATION)), version))
    # The top validation score, the shorter prompt on a tie. Not the loop's paired tie rule: on a few examples it
    # cannot tell most prompts apart, and would pick the shortest of nearly all of them instead of the best.
    best_validation, best = max(versions, key=lambda pair: (pair[0], -racing.prompt_length(pair[1])))
    loop.infer(run, best, Split.TEST)
    best_test = loop.score(run, loop.evaluation_of(run, best, Split.TEST))
    run.status = RunStatus.SUCCEEDED
    run.save(update_fields=["status"])
    calls, paid = calls_of(run)
    picked = f"{len(versions)} prompts; best: {best.note.removeprefix('Grid: ')}"
    return Outcome("grid", None, best_validation, best_test, calls, paid, True, picked)


def main(argv=None):
    bigbench.main("python -m benchmarks.quality", measure, options(argv))


def measure(args):
    from optimization.models import Run
    from optimization.services import prompt_create

    parameters = {**bigbench.run_parameters(args), "seed": args.seed}
    race_from = Run._meta.get_field("race_from").get_default()
    team = bigbench.bench_team()
    print(f"tasks: {', '.join(args.tasks)}; provider {args.provider}; seed {args.seed}; run settings: defaults "
          f"except {', '.join(f'{k} {v}' for k, v in parameters.items() if k not in ('seed',))}", flush=True)
    results = {}
    for name in args.tasks:
        dataset = bigbench.imported(team, name, seed=args.seed, directory=args.tasks_dir)
        prompt = prompt_create(team=team, name=name)
        racing, summary, test_size = optimized(dataset, prompt, parameters, race_from)
        full, _, _ = optimized(dataset, prompt, parameters, 0)
        ceiling = grid(dataset, prompt, parameters) if args.grid else None
        baseline = summary["baseline"]
        print(f"\n{name}: {test_size} test examples; baseline (always {baseline['answer']!r}, chosen on train): "
              f"test {baseline['test']:.3f}", flush=True)
        for outcome in filter(None, (racing, full, ceiling)):
            start = "" if outcome.start_test is None else f"start {outcome.start_test:.3f}, "
            print(f"  {outcome.label}: {start}best validation {outcome.best_validation:.3f}"
                  f" test {outcome.best_test:.3f}; {outcome.calls} calls ({outcome.paid} paid, the rest from the "
                  f"cache)", flush=True)
            print(f"    {'verdict' if outcome is not ceiling else 'picked'}: {outcome.words}", flush=True)
        results[name] = (racing, full, ceiling, baseline["test"])
    summarize(results)


def summarize(results):
    """The last lines: racing's saving, the loop against the grid, the baseline ratio."""
    racing = {name: r for name, (r, _, _, _) in results.items()}
    full = {name: f for name, (_, f, _, _) in results.items()}
    ceiling = {name: g for name, (_, _, g, _) in results.items()}
    baselines = [b for *_, b in results.values()]
    print()
    per_task = ", ".join(f"{name} {1 - share(racing[name].calls, full[name].calls):.2f}" for name in results)
    overall = 1 - share(sum(r.calls for r in racing.values()), sum(f.calls for f in full.values()))
    print(f"racing saving (1 - calls with racing / calls without): overall {overall:.2f}; {per_task}")
    # The start's validation answers and the test answers are the same with racing or without: what it can save is
    # the candidates' validation answers.
    per_task = ", ".join(
        f"{name} {1 - share(racing[name].candidate_answers, full[name].candidate_answers):.2f}" for name in results)
    overall = 1 - share(sum(r.candidate_answers for r in racing.values()),
                        sum(f.candidate_answers for f in full.values()))
    print(f"of the candidates' validation answers (all racing can save): overall {overall:.2f}; {per_task}")
    print("test score with racing / without: " + ", ".join(
        f"{name} {racing[name].best_test:.3f} / {full[name].best_test:.3f}" for name in results))
    if None in ceiling.values():
        print("loop (racing) against the grid: not measured (--no-grid)")
    else:
        loop_score = mean(r.best_test for r in racing.values())
        grid_score = mean(g.best_test for g in ceiling.values())
        loop_calls, grid_calls = sum(r.calls for r in racing.values()), sum(g.calls for g in ceiling.values())
        print(f"loop (racing) against the grid: mean test score {loop_score:.3f} / {grid_score:.3f} = "
              f"{share(loop_score, grid_score):.2f} of the grid's, with {loop_calls} / {grid_calls} = "
              f"{share(loop_calls, grid_calls):.2f} of its calls")
    offered, baseline = mean(r.offered_test for r in racing.values()), mean(baselines)
    print(f"offered for review (the start where nothing is): mean test {offered:.3f}; constant baseline: mean test "
          f"{baseline:.3f}")
    print(f"baseline ratio: {share(offered, baseline):.2f}")


if __name__ == "__main__":
    main()
