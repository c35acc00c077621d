import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from datasets.models import Dataset
from optimization.models import Run
from optimization.policy import replay
from optimization.policy.env import CALL_PRICE, CANDIDATES_PER_ITERATION, MAX_ITERATIONS, TARGET
from optimization.policy.training import TIMESTEPS
from promptopt.errors import PromptOptError

from .optimize import Command as Optimize
from .optimize import add_parameter

# The run parameters a replay table depends on, offered as the optimize command offers them.
OPTIONS = [name for name in replay.TABLE_PARAMETERS if name != "metric_options"]


def positive(cast):
    def read(text):
        value = cast(text)
        if not value > 0:
            raise ValueError(text)
        return value

    read.__name__ = cast.__name__
    return read


class Command(BaseCommand):
    help = ("Train the policy strategy's PPO policy on replay tables of the chosen datasets (built once through "
            "the LLM layer, then kept in storage) and save it with what it saw.")

    def add_arguments(self, parser):
        parser.add_argument("--dataset", action="append", required=True,
                            help="A dataset to train on, by name (repeatable).")
        parser.add_argument("--team", help="The datasets' team, by name (needed when there are several).")
        for name in OPTIONS:
            add_parameter(parser, Run._meta.get_field(name))
        parser.add_argument("--timesteps", type=positive(int), default=TIMESTEPS, help="PPO's environment steps.")
        parser.add_argument("--call-price", type=float, default=CALL_PRICE,
                            help="Reward given up per LLM call. Default: %(default)s.")
        parser.add_argument("--max-iterations", type=positive(int), default=MAX_ITERATIONS,
                            help="Iterations per training episode. Default: %(default)s.")
        parser.add_argument("--candidates-per-iteration", type=positive(int), default=CANDIDATES_PER_ITERATION,
                            help="Edits per training iteration, as a run's candidates per iteration. "
                                 "Default: %(default)s.")
        parser.add_argument("--target", type=float, default=TARGET, help="An episode ends at this validation score.")
        parser.add_argument("--output", default=None,
                            help="The policy's name in storage. Default: the POLICY_FILE setting.")
        parser.add_argument("--rebuild", action="store_true",
                            help="Build the replay tables again rather than reuse those kept in storage.")

    def handle(self, *args, **options):
        from optimization.policy import training  # torch and stable-baselines3 load only for this

        team = Optimize._team(self, options["team"])  # the same rule: named, or the only one
        parameters = {name: options[name] for name in OPTIONS}
        tables = []
        for name in options["dataset"]:
            dataset = Dataset.objects.filter(team=team, name=name).first()
            if dataset is None:
                raise CommandError(f"Team {team} has no dataset named {name!r}.")
            try:
                table, stored, reused = replay.build_or_reuse(
                    dataset, rebuild=options["rebuild"], progress=self._progress(name), **parameters
                )
            except PromptOptError as exc:
                raise CommandError(f"{name}: {exc.message}") from None
            calls = table["llm_calls"]
            self.stderr.write(
                f"{name}: {len(table['states'])} states, {calls['prompts']} prompts answered on "
                f"{len(table['expected'])} validation examples "
                + ("(kept from before)" if reused else f"({calls['paid']} LLM calls paid, {calls['cached']} cached)")
                + f"; table {stored}"
                + "".join(f"\n  {edit} unavailable: {error}" for edit, error in table["rewrite_errors"].items())
            )
            tables.append(table)
        model, record = training.train(
            tables, timesteps=options["timesteps"], seed=options["seed"], call_price=options["call_price"],
            max_iterations=options["max_iterations"], candidates_per_iteration=options["candidates_per_iteration"],
            target=options["target"],
        )
        output = options["output"] or settings.POLICY_FILE
        training.save(model, record, output)
        self.stderr.write(f"Trained for {record['timesteps']} steps in {record['training_seconds']} s.")
        self.stdout.write(json.dumps({"policy": output, "record": training.record_name(output),
                                      "datasets": [t["dataset"]["name"] for t in tables]}))

    def _progress(self, name):
        def report(done, total):
            if done == total or done % 10 == 0:
                self.stderr.write(f"{name}: {done}/{total} prompt states scored")

        return report
