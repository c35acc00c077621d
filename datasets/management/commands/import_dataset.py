from django.core.management.base import BaseCommand, CommandError

from datasets.services import dataset_import
from promptopt.errors import PromptOptError
from promptopt.teams.models import Team


class Command(BaseCommand):
    help = "Import a CSV, JSONL or BIG-bench task.json file as a team's dataset (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--name", required=True)
        parser.add_argument("--team", required=True, help="The team's name.")
        parser.add_argument("--input-field", help="The column holding the input (detected when omitted).")
        parser.add_argument("--answer-field", help="The column holding the expected answer (detected when omitted).")
        parser.add_argument("--format", choices=["csv", "jsonl", "bigbench"], help="Default: from the extension.")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the train/validation/test split.")
        parser.add_argument(
            "--split", default="0.6,0.2,0.2", help="Train,validation,test ratios when the file has no split column."
        )

    def handle(self, *args, path, name, team, input_field, answer_field, format, seed, split, **options):
        try:
            team_obj = Team.objects.get(name=team)
        except Team.DoesNotExist:
            raise CommandError(f"No team named {team!r}.") from None
        try:
            ratios = tuple(float(part) for part in split.split(","))
        except ValueError:
            raise CommandError(f"--split {split!r}: expected three numbers like 0.6,0.2,0.2.") from None
        try:
            with open(path, "rb") as file:
                dataset = dataset_import(
                    team=team_obj,
                    name=name,
                    file=file,
                    filename=path,
                    file_format=format,
                    input_field=input_field,
                    answer_field=answer_field,
                    seed=seed,
                    ratios=ratios,
                    in_worker=False,  # a command has no request to return to: it reads the file itself
                )
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        except PromptOptError as exc:
            raise CommandError(f"{path}: {exc.message} Nothing was imported.") from None
        counts = dataset.split_counts()
        self.stdout.write(
            f"Imported {sum(counts.values())} examples into {dataset.name!r} (team {team_obj.name}): "
            + ", ".join(f"{split} {n}" for split, n in counts.items())
        )
