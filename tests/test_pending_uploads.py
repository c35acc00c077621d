"""Files kept for an upload's preview: the hourly task deletes those nobody imported in time, never one that a
person may still confirm."""

import os
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_q.models import Schedule

from datasets.models import Dataset
from datasets.tasks import expire_pending_uploads

CSV = b"question,answer\nIs water wet?,yes\nIs fire cold?,no\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def pending(media):
    return sorted(path.name.split("-", 1)[1] for path in (media / "uploads" / "pending").glob("*"))


def preview(person, team, filename):
    """Preview a file on the upload page, as a person does; the token that imports it later."""
    upload = SimpleUploadedFile(filename, CSV)
    response = person.post("/datasets/upload/", {"file": upload, "team": team.pk, "preview": "1"})
    assert response.status_code == 200 and "Preview of" in response.content.decode()
    return response.context["form"]["upload"].value()


def age(media, filename, hours):
    """Make the kept file look `hours` old."""
    (path,) = (media / "uploads" / "pending").glob(f"*-{filename}")
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def test_a_preview_nobody_imported_for_a_day_is_deleted_and_a_recent_one_is_kept(person, team, media):
    preview(person, team, "abandoned.csv")
    token = preview(person, team, "recent.csv")
    age(media, "abandoned.csv", 25)
    age(media, "recent.csv", 23)
    deleted = expire_pending_uploads()
    assert [os.path.basename(path).split("-", 1)[1] for path in deleted] == ["abandoned.csv"]
    assert pending(media) == ["recent.csv"]

    response = person.post("/datasets/upload/", {"upload": token, "name": "recent", "team": team.pk,
                                                 "import": "1"})
    assert response.status_code == 302
    assert Dataset.objects.get().examples.count() == 2


def test_confirming_a_deleted_preview_asks_for_the_file_again(person, team, media):
    token = preview(person, team, "late.csv")
    age(media, "late.csv", 30)
    expire_pending_uploads()
    response = person.post("/datasets/upload/", {"upload": token, "name": "late", "team": team.pk, "import": "1"})
    assert "The file from the preview is no longer here; choose it again." in response.content.decode()
    assert not Dataset.objects.exists()


def test_a_preview_expired_between_the_check_and_the_read_asks_for_the_file_again(person, team, media,
                                                                                 monkeypatch):
    from django.core.files.storage import FileSystemStorage

    token = preview(person, team, "raced.csv")
    exists = FileSystemStorage.exists  # says yes, and then the hourly task deletes it
    monkeypatch.setattr(FileSystemStorage, "exists", lambda self, path: exists(self, path) and not self.delete(path))
    response = person.post("/datasets/upload/", {"upload": token, "name": "raced", "team": team.pk, "import": "1"})
    assert response.status_code == 200
    assert "The file from the preview is no longer here; choose it again." in response.content.decode()
    assert not Dataset.objects.exists()


def test_the_age_limit_is_a_setting(person, team, media, settings):
    settings.PENDING_UPLOAD_MAX_AGE_HOURS = 2
    preview(person, team, "three_hours.csv")
    preview(person, team, "one_hour.csv")
    age(media, "three_hours.csv", 3)
    age(media, "one_hour.csv", 1)
    expire_pending_uploads()
    assert pending(media) == ["one_hour.csv"]


def test_nothing_previewed_yet_is_nothing_to_delete(db, media):
    assert expire_pending_uploads() == []


def test_the_worker_runs_it_every_hour(db):
    schedule = Schedule.objects.get(func="datasets.tasks.expire_pending_uploads")
    assert (schedule.schedule_type, schedule.repeats) == (Schedule.HOURLY, -1)
