from django.core.management import call_command
from django.core.management.base import BaseCommand

from optimization.tasks import recover_stalled_runs


class Command(BaseCommand):
    help = "Resume the runs of workers that died, then start django-q2's cluster (the background worker)."

    def handle(self, *args, **options):
        resumed = recover_stalled_runs(starting=True)
        if resumed:
            self.stderr.write(f"Resuming runs {', '.join(map(str, resumed))}.")
        call_command("qcluster")
