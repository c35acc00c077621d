import json
import sys
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from datasets.models import Dataset
from promptopt.errors import PromptOptError
from promptopt.models import Team

from ... import loop, services
from ...models import Prompt, Run, RunStatus


class Command(BaseCommand):
    help = "Optimize a prompt on a dataset in the foreground, through the same services as the worker."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="The dataset's name.")
        parser.add_argument("--prompt", required=True, help="Created from prompts/ when the team has none.")
        parser.add_argument("--team", help="The team's name (needed when there are several).")
        parser.add_argument("--start-version", type=int, help="Start from this version number (default: the production "
                                                        "version, else the latest one a person wrote).")
        parser.add_argument("--primary-provider", default="embedded", choices=services.PROVIDERS)
        parser.add_argument("--primary-model", default="")
        parser.add_argument("--optimizer-provider", default="embedded", choices=services.PROVIDERS)
        parser.add_argument("--optimizer-model", default="")
        parser.add_argument("--strategy", default="operators")
        parser.add_argument("--metric", default="exact_match")
        parser.add_argument("--metric-option", action="append", default=[], metavar="NAME=VALUE",
                            help="e.g. ignore_case=false or pattern=^\\d+$ (repeatable)")
        parser.add_argument("--target", type=float, default=0.9)
        parser.add_argument("--patience", type=int, default=3)
        parser.add_argument("--max-iterations", type=int, default=10)
        parser.add_argument("--candidates", type=int, default=4, help="Candidates per iteration.")
        parser.add_argument("--examples", type=int, default=40, help="At most this many examples per split.")
        parser.add_argument("--max-calls", type=int, help="Budget: LLM calls.")
        parser.add_argument("--max-tokens", type=int, help="Budget: tokens.")
        parser.add_argument("--max-cost", type=Decimal, help="Budget: estimated cost in USD.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--no-cache", action="store_true", help="Ask the model again even for cached answers.")
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
                start_version=services.start_version_of(prompt, options["start_version"]),
                enqueue=False,
                primary_provider=options["primary_provider"],
                primary_model=options["primary_model"],
                optimizer_provider=options["optimizer_provider"],
                optimizer_model=options["optimizer_model"],
                strategy=options["strategy"],
                metric=options["metric"],
                metric_options=self._metric_options(options["metric_option"]),
                target=options["target"],
                patience=options["patience"],
                max_iterations=options["max_iterations"],
                candidates_per_iteration=options["candidates"],
                examples_per_split=options["examples"],
                max_llm_calls=options["max_calls"],
                max_tokens=options["max_tokens"],
                max_cost=options["max_cost"],
                seed=options["seed"],
                use_cache=not options["no_cache"],
            )
        except PromptOptError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(f"Run {run.pk}: {prompt.name} on {dataset.name}, at most {run.estimated_calls} LLM calls.")
        self._run_in_foreground(run)
        run.refresh_from_db()
        result = services.run_summary(run)
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(
                f"Run {run.pk} {run.status}: {run.stop_reason or run.last_error}\n"
                f"Test score: start {result['start'].get('test')} -> best {result['best'].get('test')} "
                f"(difference {result['test_delta']}, 95% CI [{result['ci_low']}, {result['ci_high']}], "
                f"p = {result['p_value']})"
            )
        if run.status == RunStatus.FAILED:
            raise CommandError(f"Run {run.pk} failed: {run.last_error}")

    def _run_in_foreground(self, run):
        # The raw stream under Django's OutputWrapper, which would end each of tqdm's updates with a newline.
        stream = getattr(self.stderr, "_out", sys.stderr)
        bar = tqdm(total=run.max_iterations, desc="iterations", unit="it", file=stream, leave=True)
        try:
            while loop.run_next_step(run.pk):
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

    def _metric_options(self, pairs):
        parsed = {}
        for pair in pairs:
            name, sep, value = pair.partition("=")
            if not sep:
                raise CommandError(f"--metric-option {pair!r}: expected NAME=VALUE.")
            parsed[name] = {"true": True, "false": False}.get(value.lower(), value)
        return parsed

