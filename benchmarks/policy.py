"""Whether the learned optimizer earns its place: the PPO policy against the fixed edit order and random edits, on a
task it was not trained on, at the same LLM-call budget.

Leave one task out: for each task of data/bigbench/ (imported with a fixed seed into a throwaway database), a PPO
policy is trained with the product's own code (optimization/policy: a replay table per task, built once through
the LLM layer and kept, then PPO on the replayed environment) on the other tasks' tables, and three arms run on the
held-out task from the default starting prompt, through the same services as `manage.py optimize`:

    policy      the `policy` strategy with that policy
    operators   the fixed edit order of the `operators` strategy
    random      the `policy` strategy with the uniform policy (optimization/policy/uniform.py): each iteration's
                edits a uniform draw among those that apply

Every arm's run has the same cap on LLM calls (`max_llm_calls`, by default what the operators run may make at these
settings: its estimate) and asks every answer of the model (`use_cache` off): an answer another arm paid for would
otherwise be free, and stretch one arm's budget. Each seed trains its own policies (PPO's seed) and is the runs'
seed (the examples drawn from each split, the demonstrations drawn); the replay tables are built once, with seed 0.

Prints a row per run (task, arm, seed, the validation and test scores of the best prompt it found, its calls), then
per task each arm's mean over the seeds with a 95 % interval and the policy's difference from the two others, and last
`policy ratio: X.XX`: the policy arm's mean test score over the fixed order's.

    python -m benchmarks.policy [--tasks sports_understanding,tense] [--held-out tense] [--examples-per-split 40]
                                [--max-iterations 10] [--seeds 3] [--timesteps 50000] [--budget N]
                                [--provider embedded] [--tables DIR]

--held-out runs the arms on some of the tasks only, each still with a policy trained on every other task of
--tasks: to finish or repeat part of a measurement without paying for all of it again. The summary and the ratio are
then of those tasks alone.

With --tables, each replay table is also kept in DIR as TASK.json, and one kept there by an earlier run with the
same table parameters and default starting prompt is read instead of built: on the embedded model a table of 40
validation examples takes hours, and it is the same for every seed and every change to the training.
"""

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from . import bigbench
from .bigbench import calls_of, mean, share, with_interval

ARMS = ("policy", "operators", "random")
TABLE_SEED = 0
UNIFORM_POLICY = "benchmarks/policies/uniform.json"


def options(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.policy", description=__doc__.split("\n\n")[0])
    bigbench.add_options(parser)
    parser.add_argument("--seeds", type=int, default=3, help="Seeds 0 to N-1: each trains its policies and runs.")
    parser.add_argument("--timesteps", type=int, help="PPO's environment steps per policy. Default: train_policy's.")
    parser.add_argument("--budget", type=int,
                        help="LLM calls per run. Default: the estimate of the operators run at these settings.")
    parser.add_argument("--tables", type=Path, help="A directory to keep the replay tables in and read them from.")
    parser.add_argument("--held-out", help="Comma-separated tasks of --tasks to run the arms on (default: each).")
    args = bigbench.parsed(parser, argv)
    if len(args.tasks) < 2:
        parser.error("leaving one task out needs at least two tasks")
    chosen = args.held_out.split(",") if args.held_out is not None else args.tasks
    args.held_out = list(dict.fromkeys(name.strip() for name in chosen if name.strip()))
    unknown = [name for name in args.held_out if name not in args.tasks]
    if unknown or not args.held_out:
        parser.error(f"--held-out takes some of the tasks of --tasks ({', '.join(args.tasks)}), "
                     f"not {', '.join(unknown) or '(none)'}")
    if args.seeds < 1 or (args.timesteps is not None and args.timesteps < 1):
        parser.error("--seeds and --timesteps take a positive number")
    return args


@dataclass
class Result:
    task: str
    arm: str
    seed: int
    validation: float  # the best prompt's, where it was chosen: its gap to the test score is what choosing found
    test: float
    calls: int
    stop_reason: str


def main(argv=None):
    bigbench.main("python -m benchmarks.policy", measure, options(argv))


def measure(args):
    from optimization.policy import training, uniform
    from optimization.services import prompt_create, run_estimate

    args.timesteps = args.timesteps or training.TIMESTEPS
    parameters = bigbench.run_parameters(args)
    team = bigbench.bench_team()
    datasets = {name: bigbench.imported(team, name, directory=args.tasks_dir) for name in args.tasks}
    print(f"tasks: {', '.join(args.tasks)}; held out in turn: {', '.join(args.held_out)}; provider {args.provider}; "
          f"seeds 0 to {args.seeds - 1}; PPO {args.timesteps} steps per policy; run settings: defaults except "
          f"{', '.join(f'{k} {v}' for k, v in parameters.items())}, use_cache off", flush=True)
    tables = {}
    for name, dataset in datasets.items():
        tables[name], kept = table_of(name, dataset, parameters, args.tables)
        calls = tables[name]["llm_calls"]
        print(f"replay table {name}: {len(tables[name]['states'])} states, {calls['prompts']} prompts answered on "
              f"{len(tables[name]['expected'])} validation examples ({calls['paid']} calls paid, {calls['cached']} "
              f"from the cache){f'; read from {kept}' if kept else ''}", flush=True)
    uniform.save(UNIFORM_POLICY)

    results, baselines = [], {}
    print(f"\n{'task':<22} {'arm':<10} {'seed':>4} {'valid':>6} {'test':>6} {'calls':>6}  stop", flush=True)
    for name in args.held_out:
        dataset, prompt = datasets[name], prompt_create(team=team, name=name)
        budget = args.budget or run_estimate(dataset=dataset, strategy="operators", **parameters)
        for seed in range(args.seeds):
            trained = train_without(name, tables, seed, args.timesteps, parameters)
            for arm in ARMS:
                run = run_arm(arm, dataset, prompt, parameters, seed=seed, budget=budget,
                              policy_file={"policy": trained, "random": UNIFORM_POLICY}.get(arm))
                result, baselines[name] = result_of(name, arm, seed, run)
                results.append(result)
                print(f"{name:<22} {arm:<10} {seed:>4} {result.validation:>6.3f} {result.test:>6.3f} "
                      f"{result.calls:>6}  {result.stop_reason}", flush=True)
        print(f"{'':<22} budget {budget} LLM calls per run; constant-answer baseline {baselines[name]}", flush=True)
    summarize(args.held_out, results)


def progress(name):
    """How far a replay table is, on stderr: on the embedded model one takes up to 60 prompts' answers."""

    def report(done, total):
        if done == total or done % 10 == 0:
            print(f"replay table {name}: {done}/{total} prompt states scored", file=sys.stderr, flush=True)

    return report


def table_of(name, dataset, parameters, directory):
    """(the task's replay table, the file it was read from or None): read from `directory` when a table of these
    parameters is kept there, else built (and then kept there)."""
    from optimization.policy import replay

    wanted = table_parameters(parameters)
    path = directory / f"{name}.json" if directory else None
    if path and path.exists():
        table = json.loads(path.read_text())
        if table.get("format") == replay.TABLE_FORMAT and table["parameters"] == replay.parameters_of(
                {**wanted, "seed": TABLE_SEED}) and built_from(table) == replay.default_start().key():
            return table, path
        print(f"replay table {name}: the one kept in {path} has other parameters; building it again",
              file=sys.stderr, flush=True)
    table, _, _ = replay.build_or_reuse(dataset, seed=TABLE_SEED, progress=progress(name), **wanted)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(table))
    return table, None


def built_from(table):
    """The key of the starting prompt a table was built from (replay.table_name names a table in storage by it)."""
    from optimization.policy.reachable import candidate

    return candidate(table, table["start"]).key()


def table_parameters(parameters):
    from optimization.policy.replay import TABLE_PARAMETERS

    return {name: value for name, value in parameters.items() if name in TABLE_PARAMETERS}


def train_without(held_out, tables, seed, timesteps, parameters):
    """A policy trained on every table but the held-out task's, in episodes of the runs' iterations and
    candidates per iteration, kept in storage; its name."""
    from optimization.models import Run
    from optimization.policy import training

    shape = {name: parameters.get(name, Run._meta.get_field(name).default)
             for name in ("max_iterations", "candidates_per_iteration")}
    model, record = training.train([table for name, table in tables.items() if name != held_out],
                                   timesteps=timesteps, seed=seed, **shape)
    name = f"benchmarks/policies/without-{held_out}-seed-{seed}.zip"
    training.save(model, record, name)
    return name


def run_arm(arm, dataset, prompt, parameters, *, seed, budget, policy_file):
    from django.test import override_settings

    strategy = "operators" if arm == "operators" else "policy"
    with override_settings(POLICY_FILE=policy_file or "unused"):
        return bigbench.run_to_the_end(dataset, prompt, strategy=strategy, seed=seed, max_llm_calls=budget,
                                       use_cache=False, **parameters)


def result_of(task, arm, seed, run):
    """The run's result, and its constant-answer baseline in words."""
    from optimization.selectors import run_summary

    summary = run_summary(run)
    calls, _ = calls_of(run)
    baseline = summary["baseline"]
    return (Result(task, arm, seed, summary["best"]["validation"], summary["best"]["test"], calls, run.stop_reason),
            f"always {baseline['answer']!r}: test {baseline['test']:.3f}")


def summarize(tasks, results):
    """Per task: each arm's mean and interval over the seeds, the policy's paired differences; the ratio last."""

    def scores(task, arm):
        return [r.test for r in results if r.task == task and r.arm == arm]

    print()
    for task in tasks:
        print(f"{task}: " + "; ".join(f"{arm} {with_interval(scores(task, arm))}" for arm in ARMS))
        for other in ARMS[1:]:
            differences = [p - o for p, o in zip(scores(task, "policy"), scores(task, other))]  # paired by seed
            print(f"  policy - {other}: {with_interval(differences, signed=True)}")
    by_arm = {arm: [r.test for r in results if r.arm == arm] for arm in ARMS}
    calls = {arm: mean(r.calls for r in results if r.arm == arm) for arm in ARMS}
    print("all tasks, mean test score (mean calls per run): " + "; ".join(
        f"{arm} {mean(by_arm[arm]):.3f} ({calls[arm]:.0f})" for arm in ARMS))
    print(f"policy ratio: {share(mean(by_arm['policy']), mean(by_arm['operators'])):.2f}")


if __name__ == "__main__":
    main()
