import json

from django.core.management.base import BaseCommand, CommandError

from promptopt.teams.models import Team

from ...exchange import prompt_export
from ...models import Prompt


class Command(BaseCommand):
    help = "Write a prompt with every version, its scores and its review history as one JSON document."

    def add_arguments(self, parser):
        parser.add_argument("prompt", help="The prompt's name.")
        parser.add_argument("--team", help="The team's name (needed when several teams have a prompt of that name).")
        parser.add_argument("--output", "-o", help="A file to write (default: standard output).")

    def handle(self, *args, prompt, team, output, **options):
        prompts = Prompt.objects.filter(name=prompt).select_related("team")
        if team:
            if not Team.objects.filter(name=team).exists():
                raise CommandError(f"No team named {team!r}.")
            prompts = prompts.filter(team__name=team)
        found = list(prompts[:2])
        if not found:
            raise CommandError(f"No prompt named {prompt!r}" + (f" in team {team!r}." if team else "."))
        if len(found) > 1:
            raise CommandError(f"Several teams have a prompt named {prompt!r}: name the team with --team.")
        text = json.dumps(prompt_export(prompt=found[0]), ensure_ascii=False, indent=2)
        if output:
            with open(output, "w", encoding="utf-8") as file:
                file.write(text + "\n")
            self.stderr.write(f"Wrote {found[0].name} ({found[0].versions.count()} versions) to {output}.")
        else:
            self.stdout.write(text)
