"""Two teams with one of everything ("Alfamark", "Zetamark"), someone in no team and a superuser, for the admin
tests; staff accounts hold every Django model permission, so only their team role limits them."""

import pytest
from django.contrib.auth.models import Permission

from datasets.services import dataset_import
from optimization.models import (
    CachedResponse,
    Evaluation,
    Iteration,
    LLMCall,
    Prediction,
    PromptVersion,
    VersionStatus,
)
from optimization.reviews import review_approve, review_request, version_promote
from optimization.rollouts.models import Canary, Outcome
from optimization.services import prompt_create, run_create, version_create
from optimization.webhooks.models import Delivery, Endpoint
from promptopt.teams.models import ApiToken, Membership, Role, Team
from tests.admin_roles.support import User, csv_file


def staff(user):
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.all())
    return user


def member(team, username, role):
    user = staff(User.objects.create_user(username=username))
    Membership.objects.create(team=team, user=user, role=role)
    return user


def build_team(marker):
    """A team with one of everything: members of each role, a dataset a run used and a spare one, a prompt whose
    person-written version went through review to production, and a run (launched by the approver) with its
    iteration, candidate in review, scores, predictions and LLM call."""
    low = marker.lower()
    team = Team.objects.create(name=f"{marker} team")
    people = {role: member(team, f"{low}_{role}", role) for role in Role}
    second_approver = member(team, f"{low}_second", Role.APPROVER)
    editor, approver = people[Role.EDITOR], people[Role.APPROVER]
    dataset = dataset_import(team=team, name=f"{marker} data", file=csv_file(marker), filename="d.csv",
                             created_by=editor)
    spare = dataset_import(team=team, name=f"{marker} spare", file=csv_file(marker), filename="s.csv",
                           created_by=editor)
    prompt = prompt_create(team=team, name=f"{marker} prompt", created_by=editor)
    start = prompt.versions.get()
    written = version_create(parent=start, by=editor, system_prompt=f"{marker} written text")
    review_request(version=written, by=editor)
    review_approve(version=written, by=approver)
    version_promote(version=written, by=second_approver)
    run = run_create(dataset=dataset, start_version=start, created_by=approver, enqueue=False)
    iteration = Iteration.objects.create(run=run, number=1)
    candidate = PromptVersion.objects.create(
        prompt=prompt, system_prompt=f"{marker} candidate text", parent=start, created_by_run=run,
        launched_by=approver, status=VersionStatus.CANDIDATE,
    )
    iteration.candidates.add(candidate)
    review_request(version=candidate, by=editor)
    evaluation = Evaluation.objects.create(run=run, version=candidate, split="validation", iteration=iteration,
                                           score=0.5)
    Prediction.objects.create(evaluation=evaluation, example=dataset.examples.first(), output=f"{marker} answer",
                              score=1.0)
    LLMCall.objects.create(run=run, provider="openai", model=f"{low}-model", purpose="primary")
    ApiToken.issue(user=editor, name=f"{marker} token")
    CachedResponse.objects.create(key=f"{low}-key", provider="openai", model=f"{low}-model", text=f"{marker} text")
    endpoint = Endpoint.objects.create(team=team, url=f"https://{low}.example.com/hook", events=["version.promoted"],
                                       description=f"{marker} hook", created_by=approver)
    Delivery.objects.create(endpoint=endpoint, team=team, event="version.promoted", body=f'{{"team": "{marker}"}}',
                            last_error=f"{marker} receiver broke")
    canary = Canary.objects.create(team=team, prompt=prompt, version=candidate, baseline=written, share=10,
                                   started_by=second_approver)
    Outcome.objects.create(canary=canary, team=team, version=candidate, subject=f"{low}-subject", score=1.0)
    return {"team": team, **people, "second": second_approver, "dataset": dataset, "spare": spare,
            "prompt": prompt, "written": written, "candidate": candidate, "run": run}


@pytest.fixture
def alfa(db):
    return build_team("Alfamark")


@pytest.fixture
def zeta(db):
    return build_team("Zetamark")


@pytest.fixture
def loner(db):
    """Someone in no team: no staff account may learn their name."""
    return User.objects.create_user(username="nora_noteam")


@pytest.fixture
def root(db):
    return User.objects.create_superuser(username="root_super", password=None)
