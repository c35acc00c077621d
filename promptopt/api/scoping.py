"""What a caller may see: their teams' objects. Another team's object is a 404, like one that does not exist."""

from django.http import Http404
from rest_framework import exceptions, serializers

from ..teams.access import scoped
from ..teams.models import Team


def get_scoped(queryset, user, *, what, team_path="team", **lookup):
    """The object of one of `user`'s teams, or a 404 that does not say whether it exists elsewhere.

    `what` names it for the message: "dataset 12" gives "No dataset 12 in your teams."."""
    obj = scoped(queryset, user, team_path).filter(**lookup).first()
    if obj is None:
        raise Http404(f"No {what} in your teams.")
    return obj


class ScopedField(serializers.PrimaryKeyRelatedField):
    """An id, in a request body, of an object of one of the caller's teams. Another id is a 404, as in a URL."""

    def __init__(self, *, team_path="team", **kwargs):
        self.team_path = team_path
        super().__init__(**kwargs)

    def get_queryset(self):
        return scoped(super().get_queryset(), self.context["request"].user, self.team_path)

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if exc.get_codes() == ["does_not_exist"]:
                raise exceptions.NotFound(
                    f"No {self.queryset.model._meta.verbose_name} {data} in your teams."
                ) from None
            raise


class TeamField(ScopedField):
    def __init__(self, **kwargs):
        super().__init__(queryset=Team.objects.all(), team_path="pk", **kwargs)


def in_team_param(queryset, request):
    """`queryset` narrowed to the team of `?team=ID` (one of the caller's, else a 404), or whole without one."""
    raw = request.query_params.get("team")
    if raw in (None, ""):
        return queryset
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise exceptions.ValidationError({"team": ["A team is given by its id, a whole number."]})
    team = get_scoped(Team.objects.all(), request.user, what=f"team {raw}", team_path="pk", pk=int(raw))
    return queryset.filter(team=team)
