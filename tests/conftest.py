import pytest
from django.contrib.auth import get_user_model

from promptopt.models import Membership, Role, Team


@pytest.fixture
def team(db):
    return Team.objects.create(name="Search quality")


@pytest.fixture
def other_team(db):
    return Team.objects.create(name="Other team")


def _member(team, username, role):
    user = get_user_model().objects.create_user(username=username, password="pw-for-tests-only")
    Membership.objects.create(team=team, user=user, role=role)
    return user


@pytest.fixture
def editor(team):
    return _member(team, "erin", Role.EDITOR)


@pytest.fixture
def approver(team):
    return _member(team, "alex", Role.APPROVER)


@pytest.fixture
def stranger(other_team):
    return _member(other_team, "sam", Role.APPROVER)
