"""The walk: every URL of every ModelAdmin in `admin.site._registry` (so an admin added later is walked too), every
list filter, autocomplete, empty form, delete and action, as each role, another team's member and a superuser; no
page answers with a 500 or shows another team's marker, and a viewer changes nothing."""

import re
from html import unescape
from urllib.parse import parse_qs

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.test import RequestFactory
from django.urls import reverse

from optimization.models import PromptVersion, VersionStatus
from promptopt.teams.admin import TeamScopedAdmin
from promptopt.teams.models import Role
from tests.admin_roles.support import User, assert_four_eyes_on_production, signed_in


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
