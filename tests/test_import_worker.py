"""A file above DATASET_WORKER_IMPORT_MB is imported by the worker: the dataset shows `importing` with its progress,
then `ready` or `failed` with the error, and nothing of it is visible or usable until it is ready."""

import html

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from datasets import queue, services, tasks
from datasets.models import Dataset, Example
from optimization.models import Run
from optimization.services import prompt_create, run_create
from promptopt.errors import PromptOptError
from tests.support.api import error_of, isolate, token_client

CSV = b"question,answer\n" + b"".join(f"What is {i} plus {i}?,{2 * i}\n".encode() for i in range(10))
BROKEN = CSV + b"What is ten plus ten?\n"  # line 12 has one field


@pytest.fixture(autouse=True)
def large_is_small(settings, tmp_path):
    isolate(settings, tmp_path)
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DATASET_WORKER_IMPORT_MB = 0.0001  # 100 bytes: every file in these tests goes to the worker
    return tmp_path / "media"


@pytest.fixture
def queued(monkeypatch):
    """The ids of imports queued for the worker, in place of django-q2's queue."""
    ids = []
    monkeypatch.setattr(queue, "async_task", lambda func, dataset_id, **kwargs: ids.append((func, dataset_id)))
    return ids


def api_upload(client, team, content=CSV, **fields):
    return client.post("/api/v1/datasets/", {"file": SimpleUploadedFile("sums.csv", content), "name": "sums",
                                             "team": team.pk, **fields}, format="multipart")


def stored(media):
    return sorted(path.name for path in (media / "uploads" / "importing").glob("*")) if media.exists() else []


def test_a_large_upload_is_queued_then_imported_by_the_worker(editor, team, queued, large_is_small,
                                                              django_capture_on_commit_callbacks):
    client = token_client(editor)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_upload(client, team, seed=7)
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["examples"], body["rows_total"]) == ("importing", 0, None)
    dataset = Dataset.objects.get()
    assert queued == [("datasets.tasks.import_dataset", dataset.pk)]
    assert len(stored(large_is_small)) == 1  # kept for the worker

    tasks.import_dataset(dataset.pk)  # what the worker runs

    dataset.refresh_from_db()
    assert (dataset.status, dataset.rows_done, dataset.rows_total, dataset.split_seed) == ("ready", 10, 10, 7)
    assert (dataset.input_field, dataset.answer_field) == ("question", "answer")
    assert dataset.split_counts() == {"train": 6, "validation": 2, "test": 2}
    examples = client.get(f"/api/v1/datasets/{dataset.pk}/examples/").json()
    assert [e["input"] for e in examples["results"]][:2] == ["What is 0 plus 0?", "What is 1 plus 1?"]
    assert stored(large_is_small) == []  # the kept file is gone once imported
    tasks.import_dataset(dataset.pk)  # queued twice: the second does nothing
    assert Example.objects.count() == 10


def test_the_worker_splits_as_the_foreground_does(editor, team, queued, tmp_path, settings):
    background = services.dataset_import(team=team, name="bg", file=SimpleUploadedFile("s.csv", CSV),
                                         filename="s.csv", seed=3, created_by=editor)
    tasks.import_dataset(background.pk)
    settings.DATASET_WORKER_IMPORT_MB = 100
    foreground = services.dataset_import(team=team, name="fg", file=SimpleUploadedFile("s.csv", CSV),
                                         filename="s.csv", seed=3, created_by=editor)
    assert foreground.is_ready
    splits = [list(d.examples.order_by("position").values_list("input", "split")) for d in (background, foreground)]
    assert splits[0] == splits[1]


def test_progress_is_shown_while_nothing_of_the_dataset_is_visible(editor, team, person, queued, monkeypatch,
                                                                   admin_client):
    monkeypatch.setattr(services, "BATCH_SIZE", 4)
    dataset = services.dataset_import(team=team, name="sums", file=SimpleUploadedFile("s.csv", CSV),
                                      filename="s.csv", created_by=editor)
    page = html.unescape(person.get(f"/datasets/{dataset.pk}/").content.decode())
    assert "Importing" in page and "waiting for the worker" in page
    assert f'hx-get="/datasets/{dataset.pk}/import/"' in page and 'hx-trigger="every 2s"' in page

    seen = []
    lock = services._lock

    def look(dataset_row):  # before each batch is saved: what a person sees at that moment
        fragment = person.get(f"/datasets/{dataset.pk}/import/", HTTP_HX_REQUEST="true").content.decode()
        api = token_client(editor).get(f"/api/v1/datasets/{dataset.pk}/examples/")
        listed = token_client(editor).get("/api/v1/datasets/").json()["results"][0]["examples"]
        in_admin = admin_client.get("/admin/datasets/example/").content.decode()
        assert "0 examples" in in_admin and "What is" not in in_admin
        assert "<td class=\"field-example_count\">Importing</td>" in admin_client.get(
            "/admin/datasets/dataset/").content.decode()
        seen.append((" ".join(fragment.split()), Example.objects.count(), api.status_code, listed))
        return lock(dataset_row)

    monkeypatch.setattr(services, "_lock", look)
    tasks.import_dataset(dataset.pk)

    saving = [fragment for fragment, *_ in seen if "saving the examples" in fragment]
    assert ["4 of 10" in saving[1], "8 of 10" in saving[2]] == [True, True]
    assert [saved for _, saved, _, _ in seen[:3]] == [0, 4, 8]  # saved to the database as it goes...
    assert {(status, listed) for _, _, status, listed in seen} == {(400, 0)}  # ...and shown to nobody
    detail = html.unescape(person.get(f"/datasets/{dataset.pk}/").content.decode())
    assert "What is 9 plus 9?" in detail  # ready: the examples are listed
    refresh = person.get(f"/datasets/{dataset.pk}/import/", HTTP_HX_REQUEST="true")
    assert refresh["HX-Refresh"] == "true"  # the polling page reloads once the import is over


def test_a_dataset_still_importing_cannot_be_used(editor, team, person, queued):
    dataset = services.dataset_import(team=team, name="sums", file=SimpleUploadedFile("s.csv", CSV),
                                      filename="s.csv", created_by=editor)
    prompt = prompt_create(team=team, name="p", created_by=editor)
    with pytest.raises(PromptOptError, match="Dataset sums is still importing"):
        run_create(dataset=dataset, start_version=prompt.versions.get(), created_by=editor, enqueue=False)
    launch = person.get("/runs/new/")
    assert dataset not in launch.context["form"].fields["dataset"].queryset
    response = token_client(editor).post("/api/v1/runs/", {"dataset": dataset.pk, "prompt": prompt.pk},
                                         format="json")
    assert response.status_code == 400 and "still importing" in error_of(response)["message"]
    examples = token_client(editor).get(f"/api/v1/datasets/{dataset.pk}/examples/")
    assert "is still importing (0 rows checked)" in error_of(examples)["message"]
    assert not Run.objects.exists()


def test_a_broken_large_file_ends_failed_with_the_line_and_no_examples(editor, team, person, queued,
                                                                       large_is_small):
    preview = person.post("/datasets/upload/", {"file": SimpleUploadedFile("sums.csv", BROKEN), "team": team.pk,
                                                "preview": "1"})
    (kept,) = (large_is_small / "uploads" / "pending").glob("*")
    inode = kept.stat().st_ino
    response = person.post("/datasets/upload/", {"upload": preview.context["form"]["upload"].value(), "name": "sums",
                                                 "team": team.pk, "import": "1"}, follow=True)
    assert "sums is being imported in the background" in html.unescape(response.content.decode())
    dataset = Dataset.objects.get()
    assert list((large_is_small / "uploads" / "pending").glob("*")) == []
    assert (large_is_small / dataset.upload_path).stat().st_ino == inode  # moved for the worker, not copied

    tasks.import_dataset(dataset.pk)

    dataset.refresh_from_db()
    assert dataset.status == "failed"
    assert dataset.last_error == ("Line 12: 1 fields where the header has 2. Check for a missing or extra comma, "
                                  "or an unquoted comma inside a field. Nothing was imported.")
    assert not Example.objects.exists() and stored(large_is_small) == []
    page = html.unescape(person.get(f"/datasets/{dataset.pk}/").content.decode())
    assert "Failed" in page and "Line 12: 1 fields where the header has 2." in page
    api = token_client(editor).get(f"/api/v1/datasets/{dataset.pk}/").json()
    assert (api["status"], api["examples"]) == ("failed", 0) and api["error"].startswith("Line 12")
    again = person.post("/datasets/upload/", {"file": SimpleUploadedFile("sums.csv", CSV), "team": team.pk,
                                              "import": "1"})
    assert "its import failed: delete it, then upload again" in html.unescape(again.content.decode())

    deleted = person.post(f"/datasets/{dataset.pk}/delete/")
    assert deleted.status_code == 302 and not Dataset.objects.exists()


def test_a_failure_after_rows_were_saved_leaves_none(editor, team, queued, monkeypatch):
    monkeypatch.setattr(services, "BATCH_SIZE", 3)
    dataset = services.dataset_import(team=team, name="sums", file=SimpleUploadedFile("s.csv", CSV),
                                      filename="s.csv", created_by=editor)
    saved = Example.objects.bulk_create

    def fail_on_the_third_batch(batch):
        if Example.objects.count() >= 6:
            raise services.DatasetFileError("Line 8: the disk is full (a stand-in for any late failure).")
        return saved(batch)

    monkeypatch.setattr(Example.objects, "bulk_create", fail_on_the_third_batch)
    tasks.import_dataset(dataset.pk)
    dataset.refresh_from_db()
    assert dataset.status == "failed" and dataset.last_error.startswith("Line 8:")
    assert not Example.objects.exists()


def test_a_dataset_deleted_before_the_worker_reads_it_is_gone_with_its_file(editor, team, queued, large_is_small,
                                                                           django_capture_on_commit_callbacks):
    dataset = services.dataset_import(team=team, name="sums", file=SimpleUploadedFile("s.csv", CSV),
                                      filename="s.csv", created_by=editor)
    assert len(stored(large_is_small)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_delete(dataset=dataset, by=editor)
    assert stored(large_is_small) == []
    tasks.import_dataset(dataset.pk)  # the queued task, run after all: nothing to do
    assert not Dataset.objects.exists() and not Example.objects.exists()


def test_the_command_imports_a_large_file_itself(team, tmp_path, queued):
    path = tmp_path / "sums.csv"
    path.write_bytes(CSV)
    call_command("import_dataset", str(path), name="sums", team=team.name)
    assert Dataset.objects.get().is_ready and Example.objects.count() == 10 and queued == []


def test_a_small_file_is_still_imported_in_the_request(editor, team, settings, queued):
    settings.DATASET_WORKER_IMPORT_MB = 2
    response = api_upload(token_client(editor), team)
    assert response.status_code == 201 and response.json()["examples"] == 10 and queued == []


def test_the_worker_reads_the_file_from_google_cloud_storage(person, team, queued, gcs_bucket):
    preview = person.post("/datasets/upload/", {"file": SimpleUploadedFile("sums.csv", CSV), "team": team.pk,
                                                "preview": "1"})
    token = preview.context["form"]["upload"].value()
    response = person.post("/datasets/upload/", {"upload": token, "name": "sums", "team": team.pk, "import": "1"})
    assert response.status_code == 302
    (blob,) = gcs_bucket.list_blobs(prefix="uploads/")  # the preview's copy is gone, the worker's is there
    assert blob.name.startswith(f"{services.IMPORTS_DIR}/") and blob.download_as_bytes() == CSV

    tasks.import_dataset(Dataset.objects.get().pk)

    assert Dataset.objects.get().is_ready and Example.objects.count() == 10
    assert list(gcs_bucket.list_blobs(prefix="uploads/")) == []


def test_an_import_a_live_worker_holds_is_not_taken_twice(editor, team, queued):
    dataset = services.dataset_import(team=team, name="sums", file=SimpleUploadedFile("s.csv", CSV),
                                      filename="s.csv", created_by=editor)
    assert services._claim(dataset.pk) is not None  # a worker took it and is reading
    tasks.import_dataset(dataset.pk)  # the same task, delivered twice
    dataset.refresh_from_db()
    assert dataset.status == "importing" and not Example.objects.exists()
    assert services.imports_stalled() == []  # its lease is live


def test_the_import_of_a_worker_that_died_is_queued_again_and_starts_over(editor, team, queued, monkeypatch):
    monkeypatch.setattr(services, "BATCH_SIZE", 3)
    dataset = services.dataset_import(team=team, name="sums", file=SimpleUploadedFile("s.csv", CSV),
                                      filename="s.csv", created_by=editor)
    lock = services._lock

    def die_after_two_batches(dataset_row):
        if Example.objects.count() == 6:
            raise KeyboardInterrupt  # the worker is killed: nothing of ours runs after this
        return lock(dataset_row)

    monkeypatch.setattr(services, "_lock", die_after_two_batches)
    with pytest.raises(KeyboardInterrupt):
        tasks.import_dataset(dataset.pk)
    monkeypatch.setattr(services, "_lock", lock)
    dataset.refresh_from_db()
    assert (dataset.status, dataset.rows_done, Example.objects.count()) == ("importing", 6, 6)
    assert tasks.recover_stalled_imports() == []  # its lease has not run out yet

    Dataset.objects.filter(pk=dataset.pk).update(lease_until=dataset.lease_until - services.IMPORT_LEASE * 2)
    assert tasks.recover_stalled_imports() == [dataset.pk]
    assert queued[-1] == ("datasets.tasks.import_dataset", dataset.pk)
    tasks.import_dataset(dataset.pk)
    dataset.refresh_from_db()
    assert (dataset.status, dataset.rows_done, Example.objects.count()) == ("ready", 10, 10)
    assert sorted(Example.objects.values_list("position", flat=True)) == list(range(10))


def test_a_worker_whose_import_was_taken_over_stops_without_touching_it(editor, team, queued, monkeypatch):
    monkeypatch.setattr(services, "BATCH_SIZE", 3)
    dataset = services.dataset_import(team=team, name="sums", file=SimpleUploadedFile("s.csv", CSV),
                                      filename="s.csv", created_by=editor)
    progress = services._progress

    def taken_over(dataset_row, **fields):
        if fields.get("rows_done") == 6:  # while it checks the rows, another worker claims the import
            Dataset.objects.filter(pk=dataset.pk).update(lease_token="another worker")
        return progress(dataset_row, **fields)

    monkeypatch.setattr(services, "_progress", taken_over)
    tasks.import_dataset(dataset.pk)
    dataset.refresh_from_db()
    assert (dataset.status, dataset.last_error, dataset.lease_token) == ("importing", "", "another worker")
    assert dataset.rows_done == 3 and not Example.objects.exists()  # its last progress was before the takeover
