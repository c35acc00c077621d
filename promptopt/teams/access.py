"""What a signed-in user may see: their teams' objects, and nothing that says another team's exist.

Reads are scoped here (another team's object is a 404, like one that does not exist). Writes are checked by
the services (`require_role`, the review workflow), which raise NotAllowed; `promptopt.pages.member_view`
turns that into a 403 page.
"""

from django import forms
from django.contrib.auth import get_user_model
from django.http import Http404
from django.shortcuts import get_object_or_404

from ..errors import NotAllowed
from .models import Membership, Role, Team


def teams_of(user):
    """The teams whose objects `user` may read (a superuser reads every team, as in the admin)."""
    if not user.is_authenticated:
        return Team.objects.none()
    if user.is_superuser:
        return Team.objects.all()
    return Team.objects.filter(memberships__user=user)


def teams_where(user, role):
    """The teams in which `user` holds at least `role` (every team for a superuser): the ones to offer for a write."""
    if not user.is_authenticated:
        return Team.objects.none()
    if user.is_superuser:
        return Team.objects.all()
    held = [r for r in Role if Membership.RANK[r] >= Membership.RANK[Role(role)]]
    return Team.objects.filter(memberships__user=user, memberships__role__in=held)


def colleagues_of(user):
    """The people `user` may see by name: members of their teams (everyone for a superuser)."""
    people = get_user_model().objects.all()
    if user.is_superuser:
        return people
    return people.filter(memberships__team__in=teams_of(user)).distinct()


def scoped(queryset, user, team_path="team"):
    """`queryset` narrowed to the objects of `user`'s teams; `team_path` leads from the model to its team."""
    return queryset.filter(**{f"{team_path}__in": teams_of(user)})


def scoped_or_404(queryset, user, team_path="team", **lookup):
    return get_object_or_404(scoped(queryset, user, team_path), **lookup)


def require_role(user, team, role):
    """Refuse unless `user` holds at least `role` in `team`. Superusers hold every role; `user=None` is the
    operator at the command line, who may do anything."""
    if user is None or user.is_superuser:
        return
    membership = Membership.objects.filter(team=team, user=user).first()
    if membership is None or not membership.allows(role):
        raise NotAllowed(f"You need the {Role(role).label.lower()} role in {team} to do this.")


def role_of(user, team):
    """The user's role in `team` ("approver" for a superuser), or None: for showing buttons, never for checks."""
    if user.is_superuser:
        return Role.APPROVER
    return Membership.objects.filter(team=team, user=user).values_list("role", flat=True).first()


def may(user, team, role):
    """Whether to offer an action needing `role`; the service still decides when it is done."""
    held = role_of(user, team)
    return held is not None and Membership(role=held).allows(role)


class ScopedChoiceField(forms.ModelChoiceField):
    """A choice among the user's teams' objects. An id outside them is a 404, like one in a URL: people pick
    from the list, so another id is a crafted request, and it gets the answer a missing object gets."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return self.queryset.get(pk=value)
        except (ValueError, TypeError, self.queryset.model.DoesNotExist):
            raise Http404(f"No {self.queryset.model._meta.verbose_name} {value!r} in your teams.") from None
