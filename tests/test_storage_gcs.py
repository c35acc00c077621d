"""Uploads kept in Google Cloud Storage (GS_BUCKET_NAME set), on the emulator: the preview keeps the file in the
bucket until the person imports it, and the hourly task deletes only the previews nobody imported in time."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from google.auth.credentials import AnonymousCredentials
from google.cloud.storage import Client

from datasets.models import Dataset
from datasets.services import PENDING_DIR, pending_uploads_expire
from tests.gcs import BUCKET, PROJECT, StrayNetworkCall
from tests.test_pending_uploads import CSV, preview
from tests.test_settings import ROOT


def chosen(path):
    """The name the person gave a kept file ("uploads/pending/<token>-questions.csv": questions.csv)."""
    return os.path.basename(path).split("-", 1)[-1]


def pending(bucket):
    return sorted(chosen(blob.name) for blob in bucket.list_blobs(prefix=f"{PENDING_DIR}/"))


def confirm(person, team, token, name):
    return person.post("/datasets/upload/", {"upload": token, "name": name, "team": team.pk, "import": "1"})


def updated(bucket, filename):
    """When GCS says the kept file was last written."""
    (blob,) = [blob for blob in bucket.list_blobs(prefix=f"{PENDING_DIR}/") if blob.name.endswith(f"-{filename}")]
    return blob.updated


def test_a_preview_keeps_the_file_in_the_bucket_until_it_is_imported(person, team, gcs_bucket):
    token = preview(person, team, "questions.csv")
    (blob,) = gcs_bucket.list_blobs(prefix=f"{PENDING_DIR}/")
    assert blob.download_as_bytes() == CSV

    response = confirm(person, team, token, "questions")
    assert response.status_code == 302
    assert list(Dataset.objects.get().examples.values_list("input", "expected")) == [
        ("Is water wet?", "yes"), ("Is fire cold?", "no")]
    assert pending(gcs_bucket) == []


def test_choosing_another_file_after_a_preview_replaces_the_kept_one(person, team, gcs_bucket):
    token = preview(person, team, "first.csv")
    response = person.post("/datasets/upload/", {"file": SimpleUploadedFile("second.csv", CSV), "upload": token,
                                                 "team": team.pk, "preview": "1"})
    assert "Preview of" in response.content.decode()
    assert pending(gcs_bucket) == ["second.csv"]


def test_a_preview_nobody_imported_for_a_day_is_deleted_and_a_recent_one_is_kept(person, team, gcs_bucket,
                                                                                   settings):
    settings.PENDING_UPLOAD_MAX_AGE_HOURS = 24
    late = preview(person, team, "abandoned.csv")
    token = preview(person, team, "recent.csv")
    first, second = updated(gcs_bucket, "abandoned.csv"), updated(gcs_bucket, "recent.csv")
    assert first < second
    # The task runs when the first preview is a moment over a day old and the second a moment under.
    deleted = pending_uploads_expire(now=first + (second - first) / 2 + timedelta(hours=24))
    assert [chosen(path) for path in deleted] == ["abandoned.csv"]
    assert pending(gcs_bucket) == ["recent.csv"]

    assert "The file from the preview is no longer here" in confirm(person, team, late, "late").content.decode()
    assert confirm(person, team, token, "recent").status_code == 302
    assert Dataset.objects.get().name == "recent"


def test_nothing_previewed_yet_is_nothing_to_delete(db, gcs_bucket):
    assert pending_uploads_expire() == []


def test_a_preview_imported_while_the_task_runs_is_left_to_the_import(person, team, gcs_bucket, monkeypatch):
    token = preview(person, team, "busy.csv")
    storage = storages["default"]  # the instance behind default_storage
    listdir = storage.listdir

    def listdir_then_the_person_imports(path):
        listed = listdir(path)
        assert confirm(person, team, token, "busy").status_code == 302
        return listed

    monkeypatch.setattr(storage, "listdir", listdir_then_the_person_imports)
    assert pending_uploads_expire(now=updated(gcs_bucket, "busy.csv") + timedelta(days=2)) == []
    assert Dataset.objects.get().examples.count() == 2


def test_a_folder_made_in_the_cloud_console_is_not_a_preview(person, team, gcs_bucket):
    gcs_bucket.blob(f"{PENDING_DIR}/").upload_from_string(b"")  # what "Create folder" leaves in a bucket
    preview(person, team, "old.csv")
    deleted = pending_uploads_expire(now=updated(gcs_bucket, "old.csv") + timedelta(days=2))
    assert [chosen(path) for path in deleted] == ["old.csv"]
    assert [blob.name for blob in gcs_bucket.list_blobs()] == [f"{PENDING_DIR}/"]


def test_a_call_meant_for_google_itself_fails_at_once(gcs_bucket):
    google = Client(project=PROJECT, credentials=AnonymousCredentials(),
                    client_options={"api_endpoint": "https://storage.googleapis.com"})
    with pytest.raises(StrayNetworkCall, match="storage.googleapis.com"):
        google.bucket(BUCKET).exists()


def test_with_gs_bucket_name_a_big_upload_is_read_back_without_being_held_in_memory(gcs_bucket):
    gcs_bucket.blob(f"{PENDING_DIR}/big.csv").upload_from_string(b"question,answer\n" + b"Is it big?,yes\n" * 1_500_000)
    read_back = f"""
import tracemalloc
from django.core.files.storage import default_storage
default_storage.exists("{PENDING_DIR}/big.csv")  # the first request imports and sets up ~10 MB of client
tracemalloc.start()
with default_storage.open("{PENDING_DIR}/big.csv", "rb") as file:
    print(type(default_storage._wrapped).__name__, file.size, file.read(16))
print(tracemalloc.get_traced_memory()[1] // 1_000_000)
"""
    # STORAGE_EMULATOR_HOST, from the fixture, is how a developer points the app at an emulator too.
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"GS_BUCKET_NAME": BUCKET}
    result = subprocess.run([sys.executable, str(ROOT / "manage.py"), "shell", "-c", read_back],
                            capture_output=True, text=True, env=env)
    storage, size, head, peak_megabytes = result.stdout.split()[-4:]
    assert (storage, size, head) == ("GoogleCloudStorage", "22500016", "b'question,answer\\n'"), result.stderr
    assert int(peak_megabytes) < 8  # the object is 22.5 MB
