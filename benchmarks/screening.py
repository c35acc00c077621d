"""Whether the meta-model earns its place: runs of `meta_prompt` and `critique` with screening against without, at
the same number of scorings.

For each task of data/bigbench/ (imported with a fixed seed into a throwaway database, once per strategy and seed,
so the forest learns from its own run alone, not from the other arms'), each strategy and each seed, two runs from
the default starting prompt through the same services as `manage.py optimize`:

    screened    screen_factor 3: the strategy proposes three times the candidates, the random forest
                (optimization/meta_model.py) keeps those it predicts best, and only they are scored
    unscreened  screen_factor 1: the strategy proposes as many as are scored

Both score the same number of candidates an iteration, each on every validation example (`race_from` 0, so a
scoring is one whole validation pass, and racing's savings do not mix with screening's). After each proposal of
the screened run its rejected candidates are read again (the strategy given the same situation, the optimizer's
answer from the LLM cache) and, once the run is over, scored anyway on the same examples under a run of their own:
a rejected candidate the forest was right to reject does not beat the best candidate it kept. Iterations with too
few scored prompts for the forest keep the first candidates proposed; their rejections are counted apart.

Prints a row per run (task, strategy, seed, arm, candidates scored, rejected, test score of the best, calls), then
the scorings saved (the rejected candidates, which scoring every proposal would have scored), the test score cost
of screening (screened - unscreened, paired by task, strategy and seed, with a 95 % interval), the precision of
the forest's rejections, and last `screening ratio: X.XX`: the screened runs' mean test score over the unscreened.

    python -m benchmarks.screening [--tasks sports_understanding,tense] [--strategies meta_prompt,critique]
                                   [--examples-per-split 40] [--max-iterations 10] [--seeds 3] [--provider embedded]
"""

import argparse
import dataclasses
from dataclasses import dataclass, field

from . import bigbench
from .bigbench import calls_of, mean, share, with_interval

STRATEGIES = ("meta_prompt", "critique")
SCREEN_FACTOR = 3
IMPROVEMENT = 1e-9


def options(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.screening", description=__doc__.split("\n\n")[0])
    bigbench.add_options(parser)
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="Comma-separated (default: both).")
    parser.add_argument("--seeds", type=int, default=3, help="Seeds 0 to N-1, the runs' seed.")
    args = bigbench.parsed(parser, argv)
    args.strategies = [name.strip() for name in args.strategies.split(",") if name.strip()]
    if not args.strategies or set(args.strategies) - set(STRATEGIES):
        parser.error(f"--strategies takes some of {', '.join(STRATEGIES)}")
    if args.seeds < 1:
        parser.error("--seeds takes a positive number")
    return args


@dataclass
class Rejections:
    """What the forest (or, with too few pairs, the order of proposal) left unscored in one iteration."""

    by_forest: bool
    iteration: int
    kept_best: float = 0.0  # the best validation score among the candidates kept
    rejected: list = field(default_factory=list)  # Candidates
    scores: list = field(default_factory=list)  # their validation scores, scored anyway


@dataclass
class Arm:
    label: str
    scored: int
    test: float
    calls: int
    iterations: list = field(default_factory=list)  # Rejections, screened runs only

    @property
    def rejected(self):
        return sum(len(i.rejected) for i in self.iterations)


def main(argv=None):
    bigbench.main("python -m benchmarks.screening", measure, options(argv))


def measure(args):
    from optimization.services import prompt_create

    parameters = {**bigbench.run_parameters(args), "race_from": 0}
    team = bigbench.bench_team()
    print(f"tasks: {', '.join(args.tasks)}; strategies: {', '.join(args.strategies)}; provider {args.provider}; "
          f"seeds 0 to {args.seeds - 1}; run settings: defaults except "
          f"{', '.join(f'{k} {v}' for k, v in parameters.items())}; screened: screen_factor {SCREEN_FACTOR}",
          flush=True)
    print(f"\n{'task':<22} {'strategy':<12} {'seed':>4} {'arm':<10} {'scored':>6} {'rejected':>8} {'test':>6} "
          f"{'calls':>6}", flush=True)
    pairs = []
    for name in args.tasks:
        for strategy in args.strategies:
            for seed in range(args.seeds):
                dataset = bigbench.imported(team, name, as_name=f"{name} {strategy} {seed}",
                                             directory=args.tasks_dir)
                prompt = prompt_create(team=team, name=dataset.name)
                settings = {**parameters, "strategy": strategy, "seed": seed}
                screened = screened_run(dataset, prompt, settings)
                unscreened = arm_of("unscreened", bigbench.run_to_the_end(dataset, prompt, **settings))
                for arm in (screened, unscreened):
                    print(f"{name:<22} {strategy:<12} {seed:>4} {arm.label:<10} {arm.scored:>6} "
                          f"{arm.rejected if arm is screened else '':>8} {arm.test:>6.3f} {arm.calls:>6}", flush=True)
                pairs.append((screened, unscreened))
    summarize(pairs)


def screened_run(dataset, prompt, settings):
    """The screened run, its rejections read after each proposal and scored anyway once it is over."""
    from optimization import selectors, services
    from optimization.models import RunStatus, Step

    # A run of its own for what is asked and scored outside the screened run, so that run's ledger and scores stay
    # its own (and its forest does not learn from the rejected candidates' scores while it runs).
    probe = services.run_create(dataset=dataset, start_version=selectors.start_version_of(prompt), enqueue=False,
                                **settings)
    probe.status = RunStatus.RUNNING
    probe.save(update_fields=["status"])
    iterations = []

    def read_rejections(run, step_done):
        if step_done == Step.OPTIMIZER and run.step == Step.REFINED_INFERENCE:
            rejections = rejected_in(run, probe)
            if rejections is not None:
                iterations.append(rejections)

    run = bigbench.run_to_the_end(dataset, prompt, between_steps=read_rejections, screen_factor=SCREEN_FACTOR,
                                  **settings)
    for rejections in iterations:
        rejections.kept_best = kept_best(run, rejections.iteration)
        rejections.scores = [score_anyway(probe, candidate) for candidate in rejections.rejected]
    probe.status = RunStatus.SUCCEEDED
    probe.save(update_fields=["status"])
    return arm_of("screened", run, iterations)


def rejected_in(run, probe):
    """The candidates proposed in the run's current iteration and not kept: the strategy asked again with the
    situation the loop gave it (the optimizer's answers from the cache, accounted to the probe run)."""
    from optimization import loop
    from optimization.strategies import OptimizerError
    from optimization.strategies.registry import strategy_for

    iteration = loop.this_iteration(run)
    kept = list(iteration.candidates.all())
    if not kept:
        return None  # the optimizer's answer was unusable: nothing proposed, nothing rejected
    probe.iteration = run.iteration  # the optimizer's answer is cached by its sample, the iteration
    situation = dataclasses.replace(
        loop.situation_for(run), ask=lambda messages, json_schema=None: loop.ask_optimizer(probe, messages, json_schema)
    )
    try:
        proposed = loop.unseen(strategy_for(run.strategy)(situation), situation)
    except OptimizerError as exc:
        raise SystemExit(f"{run.dataset.name}: the proposals of run {run.pk}, iteration {run.iteration}, could not "
                         f"be read again: {exc.message}") from None
    kept_keys = {loop.candidate_of(version).key() for version in kept}
    if not kept_keys <= {candidate.key() for candidate in proposed}:
        raise SystemExit(f"{run.dataset.name}: the proposals of run {run.pk}, iteration {run.iteration}, read again "
                         "are not those the run kept from: the optimizer's answer did not come from the cache.")
    return Rejections(by_forest=any(version.predicted_score is not None for version in kept),
                      iteration=run.iteration, rejected=[c for c in proposed if c.key() not in kept_keys])


def kept_best(run, number):
    from datasets.models import Split
    from optimization import loop

    iteration = run.iterations.get(number=number)
    return max(loop.score(run, loop.evaluation_of(run, version, Split.VALIDATION))
               for version in iteration.candidates.all())


def score_anyway(probe, candidate):
    """A rejected candidate's validation score, answered under the probe run."""
    from datasets.models import Split
    from optimization import loop
    from optimization.models import PromptVersion

    version = PromptVersion.objects.create(
        prompt=probe.start_version.prompt, parent=probe.start_version, created_by_run=probe,
        note=f"Rejected by screening: {candidate.note}"[:2000], system_prompt=candidate.system_prompt,
        output_instruction=candidate.output_instruction, demonstrations=list(candidate.demonstrations),
    )
    return loop.score(probe, loop.infer(probe, version, Split.VALIDATION))


def arm_of(label, run, iterations=()):
    from optimization.selectors import run_summary

    summary = run_summary(run)
    scored = sum(iteration.candidates.count() for iteration in run.iterations.all())
    calls, _ = calls_of(run)
    return Arm(label, scored, summary["best"]["test"], calls, list(iterations))


def summarize(pairs):
    screened = [s for s, _ in pairs]
    unscreened = [u for _, u in pairs]
    scored, rejected = sum(s.scored for s in screened), sum(s.rejected for s in screened)
    print()
    print(f"scorings: screened {scored}, unscreened {sum(u.scored for u in unscreened)} candidates scored; "
          f"screening left {rejected} of {scored + rejected} proposals unscored: "
          f"{share(rejected, scored + rejected):.2f} of the scorings that scoring every proposal would have made saved")
    differences = [s.test - u.test for s, u in pairs]
    print(f"test score cost (screened - unscreened, {len(pairs)} pairs): {with_interval(differences, signed=True)}")
    for by_forest, words in ((True, "by the forest"), (False, "by proposal order (too few scored prompts to fit)")):
        chosen = [i for s in screened for i in s.iterations if i.by_forest == by_forest]
        scores = [(score, i.kept_best) for i in chosen for score in i.scores]
        right = sum(score <= best + IMPROVEMENT for score, best in scores)
        print(f"rejected {words}: {len(scores)} in {len(chosen)} iterations; {right} would not have beaten the best "
              f"kept: precision {share(right, len(scores)):.2f}")
    print(f"mean test score: screened {mean(s.test for s in screened):.3f}, unscreened "
          f"{mean(u.test for u in unscreened):.3f}")
    print(f"screening ratio: {share(mean(s.test for s in screened), mean(u.test for u in unscreened)):.2f}")


if __name__ == "__main__":
    main()
