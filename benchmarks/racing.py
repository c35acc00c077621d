"""Racing replayed: what the race's rules save, and which winners they change, on runs in which every candidate
answered every validation example.

Each task of data/bigbench/ (or `--tasks-dir`) is imported with each seed into a throwaway database and optimized
from the default starting prompt, through the same services as `manage.py optimize`, with every candidate scored on
the whole validation split (`race_from` 0). Each iteration's answers are kept: the best so far's scores by example,
each candidate's, its prompt's length. The race is then replayed on them with the rules of optimization.racing as
they are (`race_slices`, `left_behind`, `winner_of`): slice by slice in the run's race order, from the default
`race_from` (or `--race-from`), counting the answers the candidates are asked for, and comparing the race's pick
(the winner that improves on the best so far, or none) with full scoring's. A replay follows the no-racing run's
history: where the race picks differently, later iterations would have had other candidates, so each changed
iteration is counted, not what followed from it.

Prints per task and seed the candidates' validation answers without racing and with it, the share saved, and
each iteration whose pick the race changes (with a pick's test score where the no-racing run measured it: its
best's); then the saving per seed and `picks changed: N of M iterations`, and last `racing saving:
X.XXX` (of the candidates' answers, all tasks and seeds).

    python -m benchmarks.racing [--tasks ...] [--tasks-dir DIR] [--seeds 2] [--examples-per-split 40]
                                [--max-iterations 3] [--race-from N] [--answers DIR] [--provider embedded]

`--answers DIR` keeps each run's answers as DIR/TASK-seedS.json and reads them back when the run's settings and the
tasks directory are the same, so that a change to the rules is replayed in seconds, without the model. The model's
name is not among them (OPENAI_MODEL, say): keep one directory per model.
"""

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

from . import bigbench
from .bigbench import share


def options(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.racing", description=__doc__.split("\n\n")[0])
    bigbench.add_options(parser)
    parser.add_argument("--seeds", type=int, default=2, help="Seeds 0 to N-1: each the import's split and the run's.")
    parser.add_argument("--race-from", type=int, help="The first slice replayed (default: the run's default).")
    parser.add_argument("--answers", type=Path,
                        help="Keep the runs' answers here and read them back (one directory per model).")
    return bigbench.parsed(parser, argv)


def main(argv=None):
    bigbench.main("python -m benchmarks.racing", measure, options(argv))


def measure(args):
    from optimization.models import Run

    race_from = Run._meta.get_field("race_from").get_default() if args.race_from is None else args.race_from
    parameters = bigbench.run_parameters(args)
    print(f"tasks: {', '.join(args.tasks)}; provider {args.provider}; seeds 0 to {args.seeds - 1}; replayed from "
          f"race_from {race_from}; run settings: defaults except "
          f"{', '.join(f'{k} {v}' for k, v in parameters.items())}", flush=True)
    team = None
    totals = {}
    for seed in range(args.seeds):
        for name in args.tasks:
            kept = args.answers / f"{name}-seed{seed}.json" if args.answers else None
            settings = {**parameters, "seed": seed}
            source = {**settings, "tasks_dir": str(args.tasks_dir.resolve())}  # what kept answers must match
            answers = read(kept, source)
            if answers is None:
                team = team or bigbench.bench_team()
                answers = {**collected(team, name, settings, args.tasks_dir), "settings": source}
                if kept:
                    kept.parent.mkdir(parents=True, exist_ok=True)
                    kept.write_text(json.dumps(answers))
            totals[name, seed] = report(name, seed, answers, race_from)
    summarize(totals, args.seeds)


def read(path, settings):
    if path is None or not path.exists():
        return None
    answers = json.loads(path.read_text())
    return answers if answers["settings"] == settings else None


def collected(team, name, settings, directory):
    """A no-racing run of the task, stepped to the end, with each iteration's answers in the run's race order."""
    from datasets.models import Split
    from optimization import racing
    from optimization.answers import evaluation_of, scores_by_example
    from optimization.models import Step
    from optimization.services import prompt_create

    dataset = bigbench.imported(team, name, as_name=f"{name}-{settings['seed']}", seed=settings["seed"],
                                directory=directory)
    prompt = prompt_create(team=team, name=f"{name}-{settings['seed']}")
    iterations = []
    state = {"best": None}

    def scores_in_order(run, version, order):
        scores = scores_by_example(run, evaluation_of(run, version, Split.VALIDATION))
        return [scores[example.id] for example in order]

    def keep(run, step_done):
        if step_done == Step.PRIMARY_INFERENCE and state["best"] is None:
            state["best"] = run.best_or_start()
        if step_done != Step.SECOND_EVALUATION:
            return
        order = racing.race_order(run)
        iteration = run.iterations.order_by("number").last()  # the one just evaluated
        candidates = list(iteration.candidates.all())
        iterations.append({
            "best_score": iteration.best_score_before,
            "best": scores_in_order(run, state["best"], order),
            "candidates": [{"number": c.number, "length": racing.prompt_length(c),
                            "scores": scores_in_order(run, c, order)} for c in candidates],
            "picked": run.best_version.number if iteration.improved else None,
        })
        state["best"] = run.best_or_start()

    run = bigbench.run_to_the_end(dataset, prompt, between_steps=keep, race_from=0, **settings)
    tests = {}
    for evaluation in run.evaluations.filter(split=Split.TEST, version__isnull=False):
        tests[str(evaluation.version.number)] = evaluation.score  # as JSON keeps it, so kept answers read the same
    return {"metric": run.metric, "iterations": iterations, "test": tests}


def replayed(run, iteration, race_from):
    """(answers the race asks of the candidates, the number of the candidate it picks or None) for one iteration
    of a no-racing run, decided by optimization.racing's own functions on the kept answers."""
    from optimization.racing import IMPROVEMENT, left_behind, race_slices, winner_of

    best = dict(enumerate(iteration["best"]))
    total = len(best)
    candidates = {c["number"]: c for c in iteration["candidates"]}
    lengths = {number: c["length"] for number, c in candidates.items()}
    racing = list(candidates)
    asked = {}
    for size in race_slices(race_from, total):
        asked.update(dict.fromkeys(racing, size))
        if size < total:
            answers = {number: dict(enumerate(candidates[number]["scores"][:size])) for number in racing}
            out = left_behind(run, answers, best, total, lengths)
            racing = [number for number in racing if number not in out]
    if not racing:
        return sum(asked.values()), None
    scores = {number: dict(enumerate(candidates[number]["scores"])) for number in racing}
    winner = winner_of(run, scores, lengths, {number: number for number in racing})
    improves = sum(scores[winner].values()) / total > run.best_score + IMPROVEMENT
    return sum(asked.values()), winner if improves else None


def report(name, seed, answers, race_from):
    """Prints the task's line and each changed pick; returns (answers without racing, with racing, picks changed,
    iterations)."""
    without = with_racing = changed = 0
    notes = []
    for number, iteration in enumerate(answers["iterations"], start=1):
        run = SimpleNamespace(best_score=iteration["best_score"], metric=answers["metric"], seed=seed)
        asked, picked = replayed(run, iteration, race_from)
        without += sum(len(c["scores"]) for c in iteration["candidates"])
        with_racing += asked
        if picked != iteration["picked"]:
            changed += 1
            notes.append(f"    iteration {number}: racing picks {version(picked, answers)} where full scoring "
                         f"picks {version(iteration['picked'], answers)}")
    saving = f"saving {1 - share(with_racing, without):.2f}" if without else "no saving to measure"
    print(f"{name}, seed {seed}: candidates' answers {with_racing} with racing / {without} without, {saving}; "
          f"{changed} of {len(answers['iterations'])} picks changed", flush=True)
    for note in notes:
        print(note, flush=True)
    return without, with_racing, changed, len(answers["iterations"])


def version(number, answers):
    if number is None:
        return "none (no improvement)"
    test = answers["test"].get(str(number))
    return f"v{number}" + (f" (test {test:.3f})" if test is not None else "")


def summarize(totals, seeds):
    print()
    for seed in range(seeds):
        rows = [row for (_, s), row in totals.items() if s == seed]
        print(f"seed {seed}: {saving_of(rows)}; {sum(r[2] for r in rows)} of {sum(r[3] for r in rows)} picks changed")
    rows = list(totals.values())
    print(f"picks changed: {sum(r[2] for r in rows)} of {sum(r[3] for r in rows)} iterations")
    asked, without = sum(r[1] for r in rows), sum(r[0] for r in rows)
    print(f"racing saving: {1 - asked / without:.3f}" if without else "racing saving: none to measure")


def saving_of(rows):
    """In words: the share of the candidates' answers racing saved over `rows`, or that none were asked for (a run
    that stopped before its first iteration, say) rather than a ratio of nothing to nothing."""
    without = sum(row[0] for row in rows)
    if not without:
        return "no candidate answered, no saving to measure"
    return f"saving {1 - sum(row[1] for row in rows) / without:.3f} of the candidates' answers"


if __name__ == "__main__":
    main()
