"""`manage.py setup_demo`: the demo's admin, team and dataset, made once however often it runs; with --all-tasks,
every BIG-bench task of data/bigbench/, split as the benchmarks split them (seed 0)."""

import io

from django.contrib.auth import get_user_model
from django.core.management import call_command

from datasets.models import Dataset
from promptopt.teams.models import Membership, Role, Team
from tests.support.people import BIGBENCH


def setup_demo(*args):
    out = io.StringIO()
    call_command("setup_demo", "--password", "pw", *args, stdout=out)
    return out.getvalue()


def test_it_makes_the_admin_the_team_and_the_demo_dataset_once(db):
    first = setup_demo()
    assert "Sign in as admin / pw" in first and "'sports_understanding' (train 600, validation 200, test 200)" in first
    second = setup_demo()
    assert "Sign in" not in second
    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password("pw") and Team.objects.get().name == "Demo team"
    assert Membership.objects.get(user=admin).role == Role.APPROVER
    assert list(Dataset.objects.values_list("name", flat=True)) == ["sports_understanding"]


def test_all_tasks_imports_every_bigbench_file_split_with_seed_0(db):
    setup_demo()
    setup_demo("--all-tasks")
    names = sorted(Dataset.objects.values_list("name", flat=True))
    assert names == sorted(path.stem for path in BIGBENCH.glob("*.json")) and len(names) == 5
    assert set(Dataset.objects.values_list("split_seed", flat=True)) == {0}
    assert Dataset.objects.get(name="tense").split_counts() == {"train": 172, "validation": 57, "test": 57}
