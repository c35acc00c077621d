"""Each escalation found in the admin, tried again: forged authors, other teams' objects, one's own membership,
deletes that would lose history, and versions that would reach production without four eyes."""

import pytest
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError

from datasets.models import Dataset, Example
from optimization import loop
from optimization.models import AuditEntry, Prompt, PromptVersion, Run, VersionStatus
from optimization.reviews import review_approve
from optimization.services import prompt_create, run_create, version_create
from promptopt.teams.models import ApiToken, Membership, Role, Team
from tests.admin_roles.support import User, assert_four_eyes_on_production, csv_file, signed_in
from tests.loopback.student import StudentModel


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
