"""The admin goes through the rules, like every other door.

Staff accounts here hold every Django model permission; what they may do comes from their team role alone. Two teams
carry a marker in every name they own ("Alfamark", "Zetamark"), so any page that shows another team's object or
member gives itself away. The walk covers every URL of every ModelAdmin in `admin.site._registry`, so an admin
added later is walked too.
"""

import io
import re
from html import unescape
from urllib.parse import parse_qs

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError
from django.test import Client, RequestFactory
from django.urls import reverse

from datasets.models import Dataset, Example
from datasets.services import dataset_import
from optimization import loop
from optimization.models import (
    AuditEntry,
    CachedResponse,
    Evaluation,
    Iteration,
    LLMCall,
    Prediction,
    Prompt,
    PromptVersion,
    Run,
    VersionStatus,
)
from optimization.reviews import review_approve, review_request, version_promote
from optimization.rollouts.models import Canary, Outcome
from optimization.services import prompt_create, run_create, version_create
from optimization.webhooks.models import Delivery, Endpoint
from promptopt.teams.admin import TeamScopedAdmin
from promptopt.teams.models import ApiToken, Membership, Role, Team
from tests.loopback.student import StudentModel

User = get_user_model()
ROWS = [("train", 6), ("validation", 3), ("test", 3)]


def staff(user):
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.all())
    return user


def member(team, username, role):
    user = staff(User.objects.create_user(username=username))
    Membership.objects.create(team=team, user=user, role=role)
    return user


def csv_file(marker):
    lines = ["input,answer,split"]
    lines += [f"{marker} question {split} {i},yes,{split}" for split, n in ROWS for i in range(n)]
    return io.BytesIO("\n".join(lines).encode())


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


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


# ---------------------------------------------------------------------------------------------------------
# The walk


def request_as(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def sample_ids(model, model_admin, teams):
    """An object of each team for a team's model; for other models (users, the queue, ...) a few of each."""
    manager = model._default_manager.order_by("pk")
    if isinstance(model_admin, TeamScopedAdmin):
        found = [manager.filter(**{model_admin.team_path: team.pk}).first() for team in teams]
    elif model is User:
        found = [manager.filter(memberships__team=team).first() for team in teams]
        found.append(manager.filter(memberships__isnull=True, is_superuser=False).first())
    elif any(f.name == "user" for f in model._meta.fields):
        found = [manager.filter(user__memberships__team=team).first() for team in teams]
    else:
        found = list(manager[:2])
    return [obj.pk for obj in found if obj is not None]


def admin_urls(teams):
    """Every page of the admin: the site's own, each app's, and every URL of every registered ModelAdmin, with
    an object of each team wherever a URL takes one."""
    yield reverse("admin:index")
    yield reverse("admin:password_change")
    yield reverse("admin:jsi18n")
    for app_label in {model._meta.app_label for model in admin.site._registry}:
        yield reverse("admin:app_list", args=[app_label])
    for model, model_admin in admin.site._registry.items():
        ids = sample_ids(model, model_admin, teams)
        content_type = ContentType.objects.get_for_model(model)
        for pk in ids:
            yield reverse("admin:view_on_site", args=[content_type.pk, pk])
        for pattern in model_admin.urls:
            groups = list(pattern.pattern.regex.groupindex)
            if not pattern.name:
                continue  # the bare `<id>/` redirect to `<id>/change/`, which the change URL covers
            if groups:
                for pk in ids:
                    yield reverse(f"admin:{pattern.name}", kwargs=dict.fromkeys(groups, pk))
            else:
                yield reverse(f"admin:{pattern.name}")


def autocomplete_urls():
    for model in admin.site._registry:
        for field in model._meta.get_fields():
            if field.is_relation and field.concrete:
                query = f"app_label={model._meta.app_label}&model_name={model._meta.model_name}&field_name={field.name}"
                yield f"/admin/autocomplete/?{query}"
                yield f"/admin/autocomplete/?{query}&term=mark"


FILTER_LINK = re.compile(r'href="(\?[^"]*)"')


def filter_links(page):
    """The list filters' links on a changelist (its column-sorting links only reorder the same rows)."""
    links = {unescape(link) for link in FILTER_LINK.findall(page)}
    return {link for link in links if set(parse_qs(link[1:])) - {"o"}}


def snapshot(teams=None):
    """Every row of every model the admin shows (of `teams` only, for a team's models, when given)."""
    rows = {}
    for model, model_admin in admin.site._registry.items():
        queryset = model._default_manager.order_by("pk")
        if teams is not None:
            if not isinstance(model_admin, TeamScopedAdmin):
                continue
            queryset = queryset.filter(**{f"{model_admin.team_path}__in": [team.pk for team in teams]})
        rows[model._meta.label] = [
            {k: v for k, v in row.items() if k != "last_login"} for row in queryset.values()
        ]
    return rows


def changelist_of(model):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


class Walker:
    def __init__(self, client, forbidden):
        self.client = client
        self.forbidden = [word.lower() for word in forbidden]
        self.seen = 0

    def check(self, response, url):
        self.seen += 1
        assert response.status_code < 500, url
        body = response.content.decode().lower()
        leaked = [word for word in self.forbidden if word in body]
        assert not leaked, f"{url} shows {leaked}"
        return body

    def get(self, url):
        return self.check(self.client.get(url), url)

    def post(self, url, data):
        return self.check(self.client.post(url, data), f"POST {url} {data}")


def assert_four_eyes_on_production():
    """Every version in production was approved by someone who neither wrote it nor launched the run that made it."""
    for version in PromptVersion.objects.filter(status=VersionStatus.PRODUCTION):
        approvers = set(AuditEntry.objects.filter(version=version, action="approve").values_list("actor", flat=True))
        assert approvers - {version.created_by_id, version.launched_by_id, None}, f"{version} skipped four eyes"


IDENTITIES = ["viewer", "editor", "approver", "other team", "superuser"]


@pytest.mark.parametrize("who", IDENTITIES)
def test_every_admin_url_answers_without_a_500_and_shows_only_ones_own_teams(who, alfa, zeta, loner, root):
    user = {"viewer": alfa[Role.VIEWER], "editor": alfa[Role.EDITOR], "approver": alfa[Role.APPROVER],
            "other team": zeta[Role.APPROVER], "superuser": root}[who]
    others = [zeta["team"]] if who != "other team" else [alfa["team"]]
    # The other team's marker is in every name it owns: its objects' and its members' usernames.
    forbidden = [] if who == "superuser" else ["nora_noteam", others[0].name.split()[0]]
    walker = Walker(signed_in(user), forbidden)
    sees_all = signed_in(root)
    before, others_before = snapshot(), snapshot(others)
    teams = [alfa["team"], zeta["team"]]

    changelists = {changelist_of(model) for model in admin.site._registry}
    for url in admin_urls(teams):
        page = walker.get(url)
        if url in changelists:
            # Every list filter link the user sees, and every one a superuser sees (other teams' values too).
            for link in sorted(filter_links(page) | filter_links(sees_all.get(url).content.decode())):
                walker.get(url + link)
    for url in autocomplete_urls():
        walker.get(url)
    # Every form sent back empty (a validation error or a refusal, never a server error), then every delete.
    forms = [url for url in admin_urls(teams) if url.endswith(("/add/", "/change/", "/import/", "/password/"))]
    for url in forms:
        walker.post(url, {})
    for url in [url for url in admin_urls(teams) if url.endswith("/delete/")]:
        walker.post(url, {"post": "yes"})

    superuser_request = request_as(root)
    for model, model_admin in admin.site._registry.items():
        changelist = changelist_of(model)
        selected = sample_ids(model, model_admin, teams)
        for action in model_admin.get_actions(superuser_request):
            data = {"action": action, "_selected_action": selected, "index": 0}
            walker.post(changelist, data)  # delete_selected: its confirmation page
            if action == "delete_selected":
                walker.post(changelist, {**data, "post": "yes"})

    assert walker.seen > 250
    if who != "superuser":
        assert snapshot(others) == others_before, "another team's objects changed"
        assert_four_eyes_on_production()
        assert PromptVersion.objects.get(pk=alfa["candidate"].pk).status == VersionStatus.IN_REVIEW
    if who == "viewer":
        assert snapshot() == before, "a viewer changed something"


# ---------------------------------------------------------------------------------------------------------
# Each escalation found in the admin, tried again


def test_a_version_cannot_be_added_in_the_admin_with_a_forged_author(alfa):
    approver = alfa[Role.APPROVER]
    client = signed_in(approver)
    form = {"prompt": alfa["prompt"].pk, "system_prompt": "Forged.", "created_by": alfa[Role.EDITOR].pk,
            "demonstrations": "[]", "status": "approved"}
    assert client.get("/admin/optimization/promptversion/add/").status_code == 403
    assert client.post("/admin/optimization/promptversion/add/", form).status_code == 403
    assert not PromptVersion.objects.filter(system_prompt="Forged.").exists()
    page = client.get(f"/admin/optimization/promptversion/{alfa['written'].pk}/change/").content.decode()
    assert f'href="/prompts/{alfa["prompt"].pk}/v{alfa["written"].number}/new/"' in page  # the pages' door


def test_a_versions_author_run_prompt_and_text_stay_as_they_were_made(alfa, zeta):
    candidate = alfa["candidate"]
    client = signed_in(alfa[Role.APPROVER])
    form = {"prompt": zeta["prompt"].pk, "system_prompt": "Changed.", "created_by": alfa["second"].pk,
            "created_by_run": "", "launched_by": "", "status": "production", "demonstrations": "[]"}
    assert client.post(f"/admin/optimization/promptversion/{candidate.pk}/change/", form).status_code == 403
    saved = PromptVersion.objects.get(pk=candidate.pk)
    assert (saved.prompt, saved.system_prompt, saved.created_by, saved.created_by_run, saved.launched_by,
            saved.status) == (alfa["prompt"], "Alfamark candidate text", None, alfa["run"], alfa[Role.APPROVER],
                              VersionStatus.IN_REVIEW)
    saved.created_by = alfa["second"]  # nor by any other code
    with pytest.raises(ValidationError, match="immutable"):
        saved.save()


def test_a_prompt_is_added_only_to_ones_own_teams_and_as_oneself(alfa, zeta):
    editor = alfa[Role.EDITOR]
    client = signed_in(editor)
    page = client.get("/admin/optimization/prompt/add/").content.decode()
    assert "Alfamark team" in page and "Zetamark" not in page
    form = {"name": "Planted", "description": "", "created_by": zeta[Role.EDITOR].pk}
    client.post("/admin/optimization/prompt/add/", {**form, "team": zeta["team"].pk})
    assert not Prompt.objects.filter(name="Planted").exists()
    response = client.post("/admin/optimization/prompt/add/", {**form, "team": alfa["team"].pk})
    assert response.status_code == 302
    planted = Prompt.objects.get(name="Planted")
    assert (planted.team, planted.created_by) == (alfa["team"], editor)
    assert planted.versions.get().created_by == editor  # made by prompt_create, as on the pages
    assert signed_in(alfa[Role.VIEWER]).post("/admin/optimization/prompt/add/",
                                              {**form, "name": "Viewed", "team": alfa["team"].pk}).status_code == 403


@pytest.mark.parametrize("model", ["dataset", "prompt"])
def test_nobody_moves_a_dataset_or_a_prompt_to_another_team(model, alfa, zeta):
    obj = alfa["dataset" if model == "dataset" else "prompt"]
    app = "datasets" if model == "dataset" else "optimization"
    url = f"/admin/{app}/{model}/{obj.pk}/change/"
    form = {"team": zeta["team"].pk, "name": f"{obj.name} renamed", "description": "Moved."}
    assert signed_in(alfa[Role.VIEWER]).post(url, form).status_code == 403
    assert type(obj).objects.get(pk=obj.pk).name == obj.name
    assert signed_in(alfa[Role.EDITOR]).post(url, form).status_code == 302  # an editor renames it...
    saved = type(obj).objects.get(pk=obj.pk)
    assert (saved.name, saved.team) == (f"{obj.name} renamed", alfa["team"])  # ...and it stays in its team


def test_renaming_to_a_name_the_team_already_uses_is_an_error_on_the_form(alfa):
    url = f"/admin/datasets/dataset/{alfa['spare'].pk}/change/"
    response = signed_in(alfa[Role.EDITOR]).post(url, {"name": alfa["dataset"].name, "description": ""})
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Dataset.objects.get(pk=alfa["spare"].pk).name == "Alfamark spare"


def example_form(example, **changes):
    return {"input": example.input, "expected": example.expected, "alternatives": "[]", "choices": "null",
            "metadata": "{}", "split": example.split, **changes}


def test_a_viewer_cannot_edit_or_delete_examples(alfa):
    example = alfa["spare"].examples.first()
    client = signed_in(alfa[Role.VIEWER])
    assert client.post(f"/admin/datasets/example/{example.pk}/change/",
                       example_form(example, expected="no")).status_code == 403
    assert client.post(f"/admin/datasets/example/{example.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Example.objects.get(pk=example.pk).expected == "yes"


def test_an_editor_corrects_an_example_until_a_run_has_scored_its_dataset(alfa):
    client = signed_in(alfa[Role.EDITOR])
    spare = alfa["spare"].examples.first()
    assert client.post(f"/admin/datasets/example/{spare.pk}/change/",
                       example_form(spare, expected="no")).status_code == 302
    assert Example.objects.get(pk=spare.pk).expected == "no"
    scored = alfa["dataset"].examples.first()
    assert client.post(f"/admin/datasets/example/{scored.pk}/change/",
                       example_form(scored, expected="no")).status_code == 403
    page = client.post(f"/admin/datasets/example/{scored.pk}/delete/", {"post": "yes"}).content.decode()
    assert "run(s) scored its dataset" in page
    assert Example.objects.get(pk=scored.pk).expected == "yes"


def test_a_viewer_cannot_delete_a_run_and_nobody_deletes_one_with_results(alfa, root):
    run = alfa["run"]
    viewer = signed_in(alfa[Role.VIEWER])
    assert viewer.post(f"/admin/optimization/run/{run.pk}/delete/", {"post": "yes"}).status_code == 403
    for user in (alfa[Role.EDITOR], root):
        page = signed_in(user).post(f"/admin/optimization/run/{run.pk}/delete/", {"post": "yes"}).content.decode()
        assert "its scores and LLM calls are kept" in page
    assert Run.objects.filter(pk=run.pk).exists()


def test_an_editor_deletes_a_run_that_never_started(alfa):
    run = run_create(dataset=alfa["dataset"], start_version=alfa["prompt"].versions.get(number=1),
                     created_by=alfa[Role.EDITOR], enqueue=False)
    client = signed_in(alfa[Role.EDITOR])
    url = f"/admin/optimization/run/{run.pk}/delete/"
    assert "cancel it first" in client.post(url, {"post": "yes"}).content.decode()
    Run.objects.filter(pk=run.pk).update(status="cancelled")
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not Run.objects.filter(pk=run.pk).exists()


def membership_of(user, team):
    return Membership.objects.get(user=user, team=team)


@pytest.mark.parametrize("role", list(Role))
def test_nobody_changes_or_deletes_their_own_membership(role, alfa):
    user = alfa[role]
    own = membership_of(user, alfa["team"])
    client = signed_in(user)
    url = f"/admin/promptopt/membership/{own.pk}/"
    assert client.post(url + "change/", {"role": Role.APPROVER}).status_code == 403
    assert client.post(url + "delete/", {"post": "yes"}).status_code == 403
    assert membership_of(user, alfa["team"]).role == role


def test_nobody_adds_themselves_to_a_team(alfa, zeta):
    approver = alfa[Role.APPROVER]
    client = signed_in(approver)
    for team in (alfa["team"], zeta["team"]):
        response = client.post("/admin/promptopt/membership/add/",
                               {"team": team.pk, "user": approver.pk, "role": Role.APPROVER})
        assert "Select a valid choice" in response.content.decode()
    other = zeta[Role.APPROVER]  # nor their team to someone else's, nor someone else's team to anybody
    response = client.post("/admin/promptopt/membership/add/",
                           {"team": zeta["team"].pk, "user": alfa[Role.VIEWER].pk, "role": Role.VIEWER})
    assert "Select a valid choice" in response.content.decode()
    assert not Membership.objects.filter(user=approver, team=zeta["team"]).exists()
    assert not Membership.objects.filter(user=alfa[Role.VIEWER], team=zeta["team"]).exists()
    assert not Membership.objects.filter(user=other, team=alfa["team"]).exists()


def test_a_teams_approver_manages_its_other_members(alfa, loner):
    approver = alfa[Role.APPROVER]
    client = signed_in(approver)
    viewer = membership_of(alfa[Role.VIEWER], alfa["team"])
    assert client.post(f"/admin/promptopt/membership/{viewer.pk}/change/", {"role": Role.EDITOR}).status_code == 302
    assert membership_of(alfa[Role.VIEWER], alfa["team"]).role == Role.EDITOR
    second_team = Team.objects.create(name="Alfamark second")
    Membership.objects.create(team=second_team, user=approver, role=Role.APPROVER)
    form = {"team": second_team.pk, "role": Role.VIEWER}
    assert client.post("/admin/promptopt/membership/add/", {**form, "user": alfa[Role.EDITOR].pk}).status_code == 302
    assert membership_of(alfa[Role.EDITOR], second_team).role == Role.VIEWER
    response = client.post("/admin/promptopt/membership/add/", {**form, "user": loner.pk})  # not a colleague
    assert "Select a valid choice" in response.content.decode()
    editor = signed_in(alfa[Role.EDITOR])  # an editor manages no membership
    assert editor.post(f"/admin/promptopt/membership/{viewer.pk}/change/", {"role": Role.APPROVER}).status_code == 403


def test_the_team_page_does_not_edit_memberships_for_staff(alfa):
    approver = alfa[Role.APPROVER]
    team = alfa["team"]
    memberships = list(team.memberships.order_by("pk"))
    form = {"name": team.name, "memberships-TOTAL_FORMS": len(memberships),
            "memberships-INITIAL_FORMS": len(memberships), "memberships-MIN_NUM_FORMS": 0,
            "memberships-MAX_NUM_FORMS": 1000}
    for i, membership in enumerate(memberships):
        form |= {f"memberships-{i}-id": membership.pk, f"memberships-{i}-team": team.pk,
                 f"memberships-{i}-user": membership.user_id, f"memberships-{i}-role": Role.APPROVER}
    signed_in(approver).post(f"/admin/promptopt/team/{team.pk}/change/", form)
    assert list(team.memberships.order_by("pk").values_list("role", flat=True)) == [m.role for m in memberships]


def test_only_superusers_make_teams_or_manage_users(alfa, root):
    approver = alfa[Role.APPROVER]
    client = signed_in(approver)
    assert client.post("/admin/promptopt/team/add/", {"name": "Mine"}).status_code == 403
    assert not Team.objects.filter(name="Mine").exists()
    url = f"/admin/auth/user/{approver.pk}/change/"
    assert client.post(url, {"username": approver.username, "is_superuser": "on", "is_staff": "on"}).status_code == 403
    assert not User.objects.get(pk=approver.pk).is_superuser
    assert client.get("/admin/django_q/schedule/add/").status_code == 403
    inline = {"memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0}
    assert signed_in(root).post("/admin/promptopt/team/add/", {"name": "Made by root", **inline}).status_code == 302


def test_a_superuser_makes_the_first_team(root):
    inline = {"memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0}
    assert signed_in(root).post("/admin/promptopt/team/add/", {"name": "First", **inline}).status_code == 302
    assert Team.objects.get().name == "First"


def test_a_token_is_added_for_oneself_only(alfa):
    editor = alfa[Role.EDITOR]
    client = signed_in(editor)
    add = "/admin/promptopt/apitoken/add/"
    client.post(add, {"user": alfa[Role.APPROVER].pk, "name": "borrowed", "scope": "serve"})
    assert not ApiToken.objects.filter(name="borrowed").exists()
    assert client.post(add, {"user": editor.pk, "name": "mine", "scope": "serve"}).status_code == 302
    assert ApiToken.objects.get(name="mine").user == editor


def test_a_staff_approver_alone_gets_no_version_into_production(alfa):
    """The approver launched the run that made the candidate: no admin door lets them approve it themselves."""
    approver, candidate, run = alfa[Role.APPROVER], alfa["candidate"], alfa["run"]
    client = signed_in(approver)
    versions = "/admin/optimization/promptversion/"

    def act(action):
        return client.post(versions, {"action": action, "_selected_action": [candidate.pk]}, follow=True)

    assert "launched the run that made it" in act("review_approve").content.decode()
    client.post(f"/admin/optimization/run/{run.pk}/delete/", {"post": "yes"})  # lose the run, lose the rule?
    assert Run.objects.filter(pk=run.pk).exists()
    client.post(f"/admin/auth/user/{approver.pk}/delete/", {"post": "yes"})
    PromptVersion.objects.filter(pk=candidate.pk).update(created_by_run=None)  # even with the run's link gone
    assert "launched the run that made it" in act("review_approve").content.decode()
    act("version_promote")
    act("version_rollback")
    assert PromptVersion.objects.get(pk=candidate.pk).status == VersionStatus.IN_REVIEW
    assert_four_eyes_on_production()
    assert review_approve(version=candidate, by=alfa["second"]).status == VersionStatus.APPROVED  # another may


@pytest.fixture
def student(settings):
    with StudentModel({}) as server:
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_API_KEY = "test-key"
        settings.LLM_MAX_RETRIES = 1
        yield server


def test_the_loop_marks_each_version_it_makes_with_who_launched_the_run(alfa, student):
    approver = alfa[Role.APPROVER]
    student.answers = dict(alfa["dataset"].examples.values_list("input", "expected"))
    run = run_create(dataset=alfa["dataset"], start_version=alfa["prompt"].versions.get(number=1),
                     created_by=approver, primary_provider="openai", optimizer_provider="openai",
                     max_iterations=1, seed=1, enqueue=False)
    steps = 0
    while loop.run_next_step(run.pk):
        steps += 1
        assert steps < 50, "the run never ended"
    made = PromptVersion.objects.filter(created_by_run=run)
    assert made.exists()
    assert set(made.values_list("launched_by", flat=True)) == {approver.pk}


def test_an_editor_imports_a_dataset_into_their_own_team_only(alfa, zeta):
    editor = signed_in(alfa[Role.EDITOR])
    page = editor.get("/admin/datasets/dataset/").content.decode()
    assert "Import a dataset" in page
    form = {"name": "Imported", "seed": 0}
    response = editor.post("/admin/datasets/dataset/import/", {**form, "team": zeta["team"].pk,
                                                              "file": named(csv_file("Alfamark"), "d.csv")})
    assert "Select a valid choice" in response.content.decode()
    for seed in (-1, 2**70):
        response = editor.post("/admin/datasets/dataset/import/", {**form, "seed": seed, "team": alfa["team"].pk,
                                                                  "file": named(csv_file("Alfamark"), "d.csv")})
        assert response.status_code == 200 and 'class="errorlist' in response.content.decode()
    response = editor.post("/admin/datasets/dataset/import/", {**form, "team": alfa["team"].pk,
                                                              "file": named(csv_file("Alfamark"), "d.csv")})
    assert response.status_code == 302
    imported = Dataset.objects.get(name="Imported")
    assert (imported.team, imported.created_by, imported.examples.count()) == (alfa["team"], alfa[Role.EDITOR], 12)
    viewer = signed_in(alfa[Role.VIEWER])
    assert "Import a dataset" not in viewer.get("/admin/datasets/dataset/").content.decode()
    response = viewer.post("/admin/datasets/dataset/import/", {**form, "name": "Viewed", "team": alfa["team"].pk,
                                                              "file": named(csv_file("Alfamark"), "d.csv")})
    assert response.status_code == 403
    assert not Dataset.objects.filter(name="Viewed").exists()


def named(file, name):
    file.name = name
    return file


def test_an_editor_deletes_only_what_no_history_refers_to(alfa):
    editor = signed_in(alfa[Role.EDITOR])
    draft = version_create(parent=alfa["written"], by=alfa[Role.EDITOR], system_prompt="Scratch.")
    page = editor.post(f"/admin/optimization/promptversion/{alfa['candidate'].pk}/delete/", {"post": "yes"})
    assert "made by run" in page.content.decode()
    assert signed_in(alfa[Role.VIEWER]).post(f"/admin/optimization/promptversion/{draft.pk}/delete/",
                                              {"post": "yes"}).status_code == 403
    assert editor.post(f"/admin/optimization/promptversion/{draft.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not PromptVersion.objects.filter(pk=draft.pk).exists()
    unused = prompt_create(team=alfa["team"], name="Unused", created_by=alfa[Role.EDITOR])
    assert editor.post(f"/admin/optimization/prompt/{unused.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Prompt.objects.filter(pk=unused.pk).exists()
    assert "review history" in editor.post(f"/admin/optimization/prompt/{alfa['prompt'].pk}/delete/",
                                           {"post": "yes"}).content.decode()
    assert PromptVersion.objects.filter(pk=alfa["written"].pk).exists()


def test_a_teams_approver_renames_it_and_an_editor_does_not(alfa):
    team = alfa["team"]
    inline = {"memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0}
    url = f"/admin/promptopt/team/{team.pk}/change/"
    assert signed_in(alfa[Role.EDITOR]).post(url, {"name": "Renamed by editor", **inline}).status_code == 403
    assert signed_in(alfa[Role.APPROVER]).post(url, {"name": "Alfamark renamed", **inline}).status_code == 302
    assert Team.objects.get(pk=team.pk).name == "Alfamark renamed"


@pytest.mark.parametrize("what", ["team", "prompt", "written", "run", Role.APPROVER, Role.EDITOR])
def test_nothing_the_review_history_names_can_be_deleted_by_any_code(what, alfa):
    """Not only in the admin: the launcher, the author, the audit log's actors, versions and teams are kept by the
    database relations themselves (deactivate a user instead)."""
    entries = AuditEntry.objects.count()
    with pytest.raises(ProtectedError):
        alfa[what].delete()
    assert AuditEntry.objects.count() == entries
    assert type(alfa[what]).objects.filter(pk=alfa[what].pk).exists()
