import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from datasets.models import Dataset
from datasets.services import dataset_import
from promptopt.teams.models import Membership, Role, Team

TASKS_DIR = Path(settings.BASE_DIR) / "data" / "bigbench"
DEMO_TASK = "sports_understanding"


class Command(BaseCommand):
    help = "Create the demo admin, the demo team and the demo dataset (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=os.environ.get("DEMO_PASSWORD", "demo-admin"))
        parser.add_argument("--all-tasks", action="store_true",
                            help="Import every BIG-bench task of data/bigbench/, not only the demo's (seed 0, as "
                                 "the benchmarks split them), e.g. for train_policy.")

    def handle(self, *args, password, all_tasks, **options):
        user, created = get_user_model().objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(password)
            user.save()
        team, _ = Team.objects.get_or_create(name="Demo team")
        Membership.objects.get_or_create(team=team, user=user, defaults={"role": Role.APPROVER})
        tasks = sorted(path.stem for path in TASKS_DIR.glob("*.json")) if all_tasks else [DEMO_TASK]
        for name in tasks:
            dataset = Dataset.objects.filter(team=team, name=name).first()
            if dataset is None:
                with open(TASKS_DIR / f"{name}.json", "rb") as file:
                    dataset = dataset_import(
                        team=team, name=name, file=file, filename=f"{name}.json", created_by=user,
                        in_worker=False,  # the demo runs on it next
                    )
            counts = ", ".join(f"{split} {n}" for split, n in dataset.split_counts().items())
            self.stdout.write(f"Demo team {team.name!r}: dataset {dataset.name!r} ({counts}).")
        if created:
            self.stdout.write(f"Sign in as admin / {password}")
