import argparse
import json
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import models
from tqdm import tqdm

from datasets.models import Dataset
from promptopt.errors import PromptOptError
from promptopt.teams.models import Team

from ... import loop, selectors, services
from ...batch_prediction.services import wait_in_foreground
from ...models import Prompt, Run, RunStatus
from ...statistics import Comparison
from ...verdict import GAIN, significant

# The options of a run's parameters are generated from the Run model's fields; these keep the names the command
# has always had. Any other parameter's option is its name, as in --max-iterations. The two options that are not
# the field's value keep their own names as destinations too, so that call_command(no_cache=True) means what
# --no-cache does.
FLAGS = {
    "candidates_per_iteration": "--candidates", "examples_per_split": "--examples", "max_llm_calls": "--max-calls",
    "metric_options": "--metric-option", "use_cache": "--no-cache",
}


def add_parameter(parser, field):
    flag = FLAGS.get(field.name, "--" + field.name.replace("_", "-"))
    text = field.help_text.replace("%", "%%")
    if isinstance(field, models.BooleanField):  # on by default, so the option turns it off
        parser.add_argument(flag, action="store_true", help="Ask the model again even for answers paid for before.")
    elif isinstance(field, models.JSONField):  # NAME=VALUE pairs, read by parameters_of
        parser.add_argument(flag, action="append", default=[], metavar="NAME=VALUE",
                            help="An option of the metric, e.g. ignore_case=false or pattern=^\\d+$ (repeatable).")
    else:
        if field.has_default() and not callable(field.default):  # a callable's help text says what it gives
            text += " Default: %(default)s."
        choices = [value for value, _ in field.flatchoices]
        if choices:
            checks = {"choices": choices}
        else:  # named like the option, as in --candidates CANDIDATES
            checks = {"type": _reader(field), "metavar": flag[2:].replace("-", "_").upper()}
        parser.add_argument(flag, dest=field.name, default=field.get_default(), help=text, **checks)


def _reader(field):
    """Reads an option's text as its field does, bounds included: a bad value is an error naming the option."""

    def read(text):
        try:
            return field.clean(text, None)
        except ValidationError as exc:
            raise argparse.ArgumentTypeError(" ".join(exc.messages)) from None

    read.__name__ = field.name
    return read


def _name_value(pair):
    name, sep, value = pair.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{pair!r}: expected NAME=VALUE.")
    return name, {"true": True, "false": False}.get(value.lower(), value)


def parameters_of(options):
    """The run's parameters from the command's options, as run_create takes them."""
    parameters = {name: options[name] for name in Run.PARAMETERS if name in options}
    parameters["use_cache"] = not options["no_cache"]
    try:
        parameters["metric_options"] = dict(_name_value(pair) for pair in options["metric_option"])
    except argparse.ArgumentTypeError as exc:
        raise CommandError(f"--metric-option {exc}") from None
    return parameters


class Command(BaseCommand):
    help = "Optimize a prompt on a dataset in the foreground, through the same services as the worker."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="The dataset's name.")
        parser.add_argument("--prompt", required=True, help="Created from prompts/ when the team has none.")
        parser.add_argument("--team", help="The team's name (needed when there are several).")
        parser.add_argument("--start-version", type=int, help="Start from this version number (default: the production "
                                                        "version, else the latest one a person wrote).")
        for name in Run.PARAMETERS:
            add_parameter(parser, Run._meta.get_field(name))
        parser.add_argument("--json", action="store_true", help="Print one JSON object with the result.")

    def handle(self, *args, **options):
        team = self._team(options["team"])
        try:
            dataset = Dataset.objects.get(team=team, name=options["dataset"])
        except Dataset.DoesNotExist:
            raise CommandError(f"Team {team} has no dataset named {options['dataset']!r}.") from None
        try:
            prompt = Prompt.objects.filter(team=team, name=options["prompt"]).first() or services.prompt_create(
                team=team, name=options["prompt"]
            )
            run = services.run_create(
                dataset=dataset,
                start_version=selectors.start_version_of(prompt, options["start_version"]),
                enqueue=False,
                **parameters_of(options),
            )
        except PromptOptError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(f"Run {run.pk}: {prompt.name} on {dataset.name}, at most {run.estimated_calls} LLM calls.")
        self._run_in_foreground(run)
        run.refresh_from_db()
        result = selectors.run_summary(run)
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(human_summary(run, result))
        if run.status == RunStatus.FAILED:
            raise CommandError(f"Run {run.pk} failed: {run.last_error}")

    def _run_in_foreground(self, run):
        # The raw stream under Django's OutputWrapper, which would end each of tqdm's updates with a newline.
        stream = getattr(self.stderr, "_out", sys.stderr)
        bar = tqdm(total=run.max_iterations, desc="iterations", unit="it", file=stream, leave=True)
        try:
            while loop.run_next_step(run.pk) or wait_in_foreground(run.pk):
                state = Run.objects.values("iteration", "step", "best_score").get(pk=run.pk)
                bar.n = min(state["iteration"] - 1, run.max_iterations)
                bar.set_postfix(step=state["step"], best=f"{state['best_score'] or 0:.3f}")
        except KeyboardInterrupt:
            services.run_cancel(run=run)
            loop.run_next_step(run.pk)
        finally:
            bar.n = Run.objects.get(pk=run.pk).iterations.count()
            bar.close()

    def _team(self, name):
        if name:
            team = Team.objects.filter(name=name).first()
            if team is None:
                raise CommandError(f"No team named {name!r}.")
            return team
        teams = list(Team.objects.all()[:2])
        if len(teams) != 1:
            raise CommandError("Name the team with --team." if teams else "There is no team yet.")
        return teams[0]


def human_summary(run, result):
    """The before/after line, the constant-answer baseline beside it, and the verdict in words."""
    lines = [
        f"Run {run.pk} {run.status}: {run.stop_reason or run.last_error}",
        f"Test score: start {_score(result['start'].get('test'))} -> best {_score(result['best'].get('test'))}"
        f" (difference {_score(result['test_delta'])}, 95% CI [{_score(result['ci_low'])}, "
        f"{_score(result['ci_high'])}], p = {_p(result['p_value'])})",
    ]
    baseline = result["baseline"]
    if baseline:
        against = Comparison(baseline["test_delta"], baseline["ci_low"], baseline["ci_high"], baseline["p_value"])
        found = run.best_version_id not in (None, run.start_version_id)
        who = "the loop" if found else "the start (the loop found nothing better)"
        if against.delta <= GAIN:
            beat = f"{who} did NOT beat the baseline."
        elif significant(against):
            beat = f"{who} beat the baseline."
        else:
            beat = f"{who} beat the baseline, by a difference that could be chance."
        lines.append(
            f"Baseline, always answering {baseline['answer']!r} (chosen on train): test {_score(baseline['test'])}"
            f" (best - baseline {_score(against.delta)}, 95% CI [{_score(against.ci_low)}, "
            f"{_score(against.ci_high)}], p = {_p(against.p_value)}): {beat}"
        )
    if result["overfitting_gap"] is not None:
        lines.append(
            f"Best: validation {_score(result['best'].get('validation'))}, test {_score(result['best'].get('test'))}"
            f" (overfitting gauge {result['overfitting_gap']:+.3f}); racing saved {result['calls_saved']} answers."
        )
    if result["verdict"]:
        lines.append(f"Verdict: {result['verdict']}")
    return "\n".join(lines)


def _score(value):
    return "-" if value is None else f"{value:.3f}"


def _p(value):
    return "-" if value is None else f"{value:.2g}"
