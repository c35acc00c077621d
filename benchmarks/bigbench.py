"""What the benchmarks that optimize the BIG-bench tasks of data/bigbench/ share: the tasks and their options, the
throwaway database, the tasks imported with a fixed seed, and runs made and stepped to the end through the same
services as `manage.py optimize`."""

import math
import sys
from pathlib import Path

from .scratch import setup_django

TASKS_DIR = Path(__file__).resolve().parent.parent / "data" / "bigbench"
IMPORT_SEED = 0  # the split of each task into train, validation and test


def add_options(parser):
    """The options every such benchmark takes: which tasks, how many examples and iterations, which model."""
    parser.add_argument("--tasks", help="Comma-separated task names (default: every task in the tasks directory).")
    parser.add_argument("--tasks-dir", type=Path, default=TASKS_DIR,
                        help="A directory of BIG-bench task files, NAME.json (default: data/bigbench, five tasks), "
                             "to measure on tasks this project was not tuned on.")
    parser.add_argument("--examples-per-split", type=int, help="Default: the run's default.")
    parser.add_argument("--max-iterations", type=int, help="Default: the run's default.")
    parser.add_argument("--candidates-per-iteration", type=int, help="Default: the run's default.")
    parser.add_argument("--provider", default="embedded", choices=("embedded", "openai", "vertex"),
                        help="Answers and optimizer model (openai: set OPENAI_BASE_URL and OPENAI_API_KEY).")


def parsed(parser, argv):
    args = parser.parse_args(argv)
    available = sorted(path.stem for path in args.tasks_dir.glob("*.json"))
    if not available:
        parser.error(f"no BIG-bench task files (NAME.json) in {args.tasks_dir}")
    chosen = args.tasks.split(",") if args.tasks is not None else available
    args.tasks = [name.strip() for name in chosen if name.strip()]
    unknown = [name for name in args.tasks if name not in available]
    if unknown or not args.tasks:
        parser.error(f"unknown task {', '.join(unknown) or '(none)'}; use some of {', '.join(available)}")
    return args


def run_parameters(args):
    """The run parameters the options set; the others keep the run's defaults."""
    parameters = {"primary_provider": args.provider, "optimizer_provider": args.provider}
    for name in ("examples_per_split", "max_iterations", "candidates_per_iteration"):
        if getattr(args, name) is not None:
            parameters[name] = getattr(args, name)
    return parameters


def main(prog, measure, args):
    """Set up the throwaway database and measure; a parameter a run refuses ends it as `optimize` would say it."""
    setup_django()
    from promptopt.errors import PromptOptError

    try:
        measure(args)
    except PromptOptError as exc:
        sys.exit(f"{prog}: {exc.message}")


def bench_team():
    from promptopt.teams.models import Team

    return Team.objects.create(name="bench")


def imported(team, name, *, as_name=None, seed=IMPORT_SEED, directory=TASKS_DIR):
    """A task of `directory` (data/bigbench/) imported as a dataset of `team` (under `as_name`, to import it more
    than once)."""
    from datasets.services import dataset_import

    with open(Path(directory) / f"{name}.json", "rb") as file:
        return dataset_import(team=team, name=as_name or name, file=file, filename=f"{name}.json", seed=seed,
                              in_worker=False)


def run_to_the_end(dataset, prompt, *, between_steps=None, **parameters):
    """A run as `optimize` makes it, stepped in the foreground to the end; `between_steps(run, step_done)` is
    called after each step. Exits, naming the run, if it does not succeed."""
    from optimization import loop, selectors, services
    from optimization.models import Run, RunStatus

    run = services.run_create(dataset=dataset, start_version=selectors.start_version_of(prompt), enqueue=False,
                              **parameters)
    while True:
        step = Run.objects.values_list("step", flat=True).get(pk=run.pk)
        more = loop.run_next_step(run.pk)
        if between_steps:
            between_steps(Run.objects.get(pk=run.pk), step)
        if not more:
            break
    run = Run.objects.get(pk=run.pk)
    if run.status != RunStatus.SUCCEEDED:
        sys.exit(f"{dataset.name}: run {run.pk} {run.status}: {run.last_error}")
    return run


def calls_of(run):
    """(answers asked for, paid or from the cache; those paid)."""
    from optimization.llm import usage_for

    usage = usage_for(run)
    return usage["llm_calls"] + usage["cache_hits"], usage["llm_calls"]


def share(part, whole):
    return part / whole if whole else float("nan")


def mean(values):
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def interval(values):
    """(mean, low, high): the 95 % Student-t interval of the mean of a few values (a low and high of nan for
    fewer than two)."""
    values = list(values)
    centre = mean(values)
    if len(values) < 2:
        return centre, float("nan"), float("nan")
    spread = math.sqrt(sum((v - centre) ** 2 for v in values) / (len(values) - 1)) / math.sqrt(len(values))
    from scipy import stats

    margin = float(stats.t.ppf(0.975, len(values) - 1)) * spread
    return centre, centre - margin, centre + margin


def with_interval(values, signed=False):
    """The mean of scores (or, signed, of differences of scores) and its interval, within the range they can take."""
    centre, low, high = interval(values)
    number = "{:+.3f}" if signed else "{:.3f}"
    if math.isnan(low):
        return f"{number.format(centre)} (one value: no interval)"
    low, high = max(low, -1.0 if signed else 0.0), min(high, 1.0)
    return f"{number.format(centre)} (95 % interval {number.format(low)} to {number.format(high)})"
