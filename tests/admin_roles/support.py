"""What the admin tests import: staff accounts' clients, the CSV a team's datasets are made of, and the
four-eyes check every walk and escalation ends with."""

import io

from django.contrib.auth import get_user_model
from django.test import Client

from optimization.models import AuditEntry, PromptVersion, VersionStatus

User = get_user_model()
ROWS = [("train", 6), ("validation", 3), ("test", 3)]


def csv_file(marker):
    lines = ["input,answer,split"]
    lines += [f"{marker} question {split} {i},yes,{split}" for split, n in ROWS for i in range(n)]
    return io.BytesIO("\n".join(lines).encode())


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def assert_four_eyes_on_production():
    """Every version in production was approved by someone who neither wrote it nor launched the run that made it."""
    for version in PromptVersion.objects.filter(status=VersionStatus.PRODUCTION):
        approvers = set(AuditEntry.objects.filter(version=version, action="approve").values_list("actor", flat=True))
        assert approvers - {version.created_by_id, version.launched_by_id, None}, f"{version} skipped four eyes"
