"""The API's objects by their ids in a URL, within the caller's teams: another team's is a 404, like a missing one."""

from promptopt.api.scoping import get_scoped

from .. import selectors
from ..models import Prompt, PromptVersion, Run


def prompt_in_teams(request, pk):
    prompts = selectors.prompts_with_counts(Prompt.objects.all())
    return get_scoped(prompts, request.user, what=f"prompt {pk}", pk=pk)


def version_in_teams(request, pk, number):
    versions = PromptVersion.objects.select_related("prompt__team", "parent", "created_by")
    return get_scoped(versions, request.user, what=f"version {number} of prompt {pk}", team_path="prompt__team",
                      prompt_id=pk, number=number)


def run_in_teams(request, pk):
    runs = Run.objects.select_related("dataset", "start_version__prompt", "best_version", "created_by")
    return get_scoped(runs, request.user, what=f"run {pk}", pk=pk)
