import json
import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from promptopt.errors import PromptOptError
from promptopt.teams.models import Team

from ...exchange import prompt_import


class Command(BaseCommand):
    help = ("Import a prompt exported by export_prompt (from this or another instance). Every version arrives as a "
            "draft that needs the usual review; its status and history at the source are kept in its note and the "
            "audit log.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="The exported JSON document ('-' reads standard input).")
        parser.add_argument("--team", required=True, help="The team's name that receives the prompt.")
        parser.add_argument("--name", help="Import under this name instead of the document's.")
        parser.add_argument("--user", help="Who imports it (the versions' author; default: nobody, the operator).")

    def handle(self, *args, file, team, name, user, **options):
        receiving = Team.objects.filter(name=team).first()
        if receiving is None:
            raise CommandError(f"No team named {team!r}.")
        by = None
        if user:
            by = get_user_model().objects.filter(username=user).first()
            if by is None:
                raise CommandError(f"No user named {user!r}.")
        try:
            if file == "-":
                document = json.load(sys.stdin)
            else:
                with open(file, encoding="utf-8") as stream:
                    document = json.load(stream)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        except ValueError as exc:
            raise CommandError(f"{file} is not JSON: {exc}.") from None
        try:
            prompt = prompt_import(team=receiving, document=document, by=by, name=name)
        except PromptOptError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Imported {prompt.name} into {receiving}: {prompt.versions.count()} versions, all drafts "
                          f"(prompt {prompt.pk}).")
