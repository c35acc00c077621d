"""Django admin for curators: the review actions go through the workflow's rules; staff see only their teams."""

import pytest
from django.contrib.auth.models import Permission

from datasets.models import Dataset, Example
from optimization.models import Prompt, PromptVersion, VersionStatus
from optimization.services import prompt_create, run_create
from promptopt.teams.models import Membership, Role
from tests.support.people import member


@pytest.fixture
def version(team, admin_user):
    Membership.objects.create(team=team, user=admin_user, role=Role.APPROVER)
    prompt = Prompt.objects.create(team=team, name="judge")
    return PromptVersion.objects.create(prompt=prompt, system_prompt="Answer.", created_by=admin_user,
                                        status=VersionStatus.IN_REVIEW)


def act(client, action, version):
    return client.post("/admin/optimization/promptversion/", {"action": action, "_selected_action": [version.pk]},
                       follow=True)


def test_approving_ones_own_version_is_refused_in_the_admin(admin_client, version):
    response = act(admin_client, "review_approve", version)
    assert "you made it" in response.content.decode()
    assert PromptVersion.objects.get(pk=version.pk).status == VersionStatus.IN_REVIEW


def test_another_approver_approves_in_the_admin(client, version, approver):
    approver.is_staff = True
    approver.save()
    approver.user_permissions.set(Permission.objects.filter(codename__in=["view_promptversion",
                                                                          "change_promptversion"]))
    client.force_login(approver)
    act(client, "review_approve", version)
    assert PromptVersion.objects.get(pk=version.pk).status == VersionStatus.APPROVED


@pytest.mark.parametrize("model", ["promptversion", "prompt", "run", "auditentry"])
def test_staff_of_another_team_see_none_of_it(client, version, stranger, model):
    stranger.is_staff = True
    stranger.save()
    stranger.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    client.force_login(stranger)
    response = client.get(f"/admin/optimization/{model}/")
    assert response.status_code == 200
    assert "judge" not in response.content.decode()
    assert client.get(f"/admin/optimization/promptversion/{version.pk}/change/").status_code in (302, 403, 404)


def test_a_token_made_in_the_admin_is_shown_once_and_stored_hashed(admin_client, admin_user):
    from promptopt.api.authentication import TokenAuthentication
    from promptopt.teams.models import ApiToken

    response = admin_client.post("/admin/promptopt/apitoken/add/", {"user": admin_user.pk, "name": "ci",
                                                                 "scope": "read"}, follow=True)
    token = ApiToken.objects.get()
    key = next(word for word in response.content.decode().split() if word.startswith("po_"))
    live_token = TokenAuthentication().live_token
    assert live_token(key) == token
    assert key not in (token.key_hash, token.prefix)
    admin_client.post("/admin/promptopt/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert live_token(key) is None


# ---------------------------------------------------------------------------------------------------------
# Deleting a dataset goes through datasets.services.dataset_delete, as over the API


def staff(user, *codenames):
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


DELETE_DATASETS = ("view_dataset", "delete_dataset", "delete_example")


def test_an_editor_deletes_a_dataset_in_the_admin(client, dataset, editor):
    client.force_login(staff(editor, *DELETE_DATASETS))
    response = client.post(f"/admin/datasets/dataset/{dataset.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Dataset.objects.exists() and not Example.objects.exists()


def test_staff_without_the_editor_role_cannot_delete_a_dataset(client, dataset, team):
    viewer = staff(member(team, "vera", Role.VIEWER), *DELETE_DATASETS)
    client.force_login(viewer)
    response = client.post(f"/admin/datasets/dataset/{dataset.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert 'value="delete_selected"' not in client.get("/admin/datasets/dataset/").content.decode()
    client.post("/admin/datasets/dataset/", {"action": "delete_selected", "post": "yes",
                                             "_selected_action": [dataset.pk]})
    assert Dataset.objects.filter(pk=dataset.pk).exists() and dataset.examples.exists()


def test_a_dataset_that_runs_used_is_kept_in_the_admin(admin_client, dataset):
    prompt = prompt_create(team=dataset.team, name="p")
    run_create(dataset=dataset, start_version=prompt.versions.get(), enqueue=False)
    response = admin_client.post(f"/admin/datasets/dataset/{dataset.pk}/delete/", {"post": "yes"})
    assert "protected" in response.content.decode()
    assert Dataset.objects.filter(pk=dataset.pk).exists()


def test_examples_are_numbered_from_one_as_on_the_pages(admin_client, dataset):
    first = dataset.examples.order_by("position").first()
    assert str(first) == f"{dataset.name} #1"
    page = admin_client.get(f"/admin/datasets/example/?dataset__id__exact={dataset.pk}&o=2").content.decode()
    assert '<td class="field-number">1</td>' in page
    assert '<td class="field-number">0</td>' not in page
    change = admin_client.get(f"/admin/datasets/example/{first.pk}/change/").content.decode()
    assert 'name="position"' not in change and ">1</div>" in change
