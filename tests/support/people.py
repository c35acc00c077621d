"""People in teams, and where the shared BIG-bench task files are."""

from pathlib import Path

from django.contrib.auth import get_user_model

from promptopt.teams.models import Membership

PASSWORD = "pw-for-tests-only"
BIGBENCH = Path(__file__).resolve().parent.parent.parent / "data" / "bigbench"


def member(team, username, role):
    """A user with `role` in `team`, signing in with PASSWORD."""
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    Membership.objects.create(team=team, user=user, role=role)
    return user
