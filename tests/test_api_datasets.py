"""Datasets over the API: the same import as the pages, examples by split and text, deletion by an editor."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets.models import Dataset
from optimization.services import prompt_create, run_create
from promptopt.teams.models import Role
from tests.support.api import API_URLS, error_of, isolate, token_client
from tests.support.people import member

pytestmark = API_URLS

CSV = b"question,answer\n" + b"".join(f"What is {i} plus {i}?,{2 * i}\n".encode() for i in range(10))


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    isolate(settings, tmp_path)


def upload(client, team, content=CSV, filename="sums.csv", **fields):
    file = SimpleUploadedFile(filename, content, content_type="text/csv")
    return client.post("/api/v1/datasets/", {"file": file, "name": "sums", "team": team.pk, **fields},
                       format="multipart")


def test_it_imports_an_uploaded_file_with_a_seeded_split(editor, team):
    response = upload(token_client(editor), team, seed=7)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["team"], body["examples"], body["split_seed"]) == ("sums", team.pk, 10, 7)
    assert body["split_counts"] == {"train": 6, "validation": 2, "test": 2}
    assert (body["input_field"], body["answer_field"], body["created_by"]) == ("question", "answer", "erin")
    assert Dataset.objects.get().examples.count() == 10


def test_named_columns_are_used(editor, team):
    content = b"q,a\nOne?,1\nTwo?,2\nThree?,3\nFour?,4\nFive?,5\n"
    response = upload(token_client(editor), team, content, input_field="q", answer_field="a")
    assert response.status_code == 201, response.content
    assert response.json()["input_field"] == "q"


def test_a_broken_file_is_a_400_that_names_the_line(editor, team):
    response = upload(token_client(editor), team, b"question,answer\nOne?,1\nTwo?\n")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_file"
    assert error["message"].startswith("Line 3: 1 fields where the header has 2.")
    assert not Dataset.objects.exists()


def test_an_unknown_kind_of_file_and_a_taken_name_are_400s(editor, team):
    client = token_client(editor)
    assert "Unknown file format '.txt'" in error_of(upload(client, team, filename="sums.txt"))["message"]
    assert upload(client, team).status_code == 201
    assert "already has a dataset named 'sums'" in error_of(upload(client, team))["message"]


def test_a_file_that_is_not_utf8_is_a_400(editor, team):
    response = upload(token_client(editor), team, b"question,answer\n\xff\xfe,1\n")
    assert response.status_code == 400
    assert "not UTF-8" in error_of(response)["message"]


def test_uploading_takes_the_editor_role_in_a_team_of_yours(editor, team, other_team, stranger):
    viewer = member(team, "vera", Role.VIEWER)
    assert upload(token_client(viewer), team).status_code == 403
    response = upload(token_client(editor), other_team)
    assert response.status_code == 404
    assert error_of(response)["message"] == f"No team {other_team.pk} in your teams."
    assert not Dataset.objects.exists()


def test_the_detail_counts_examples_by_split(dataset, editor):
    body = token_client(editor).get(f"/api/v1/datasets/{dataset.pk}/").json()
    assert body["split_counts"] == {"train": 36, "validation": 12, "test": 12}
    assert body["examples"] == 60 and body["source_format"] == "bigbench"


def test_examples_page_by_split_and_text(dataset, editor):
    client = token_client(editor)
    page = client.get(f"/api/v1/datasets/{dataset.pk}/examples/?page_size=10").json()
    assert page["count"] == 60 and len(page["results"]) == 10 and page["next"]
    assert [e["position"] for e in page["results"]] == list(range(10))
    test = client.get(f"/api/v1/datasets/{dataset.pk}/examples/?split=test&page_size=100").json()
    assert test["count"] == 12 and {e["split"] for e in test["results"]} == {"test"}
    word = dataset.examples.get(position=0).input.split()[0]
    found = client.get(f"/api/v1/datasets/{dataset.pk}/examples/?q={word.lower()}").json()["results"]
    assert found and all(word.lower() in (e["input"] + e["expected"]).lower() for e in found)
    assert client.get(f"/api/v1/datasets/{dataset.pk}/examples/?split=dev").status_code == 400


def test_the_list_filters_by_team(dataset, editor, team):
    client = token_client(editor)
    assert [d["name"] for d in client.get(f"/api/v1/datasets/?team={team.pk}").json()["results"]] == ["sports"]


def test_an_editor_deletes_a_dataset(dataset, editor):
    assert token_client(editor).delete(f"/api/v1/datasets/{dataset.pk}/").status_code == 204
    assert not Dataset.objects.exists()


def test_a_viewer_cannot_delete_a_dataset(dataset, team):
    viewer = member(team, "vera", Role.VIEWER)
    response = token_client(viewer).delete(f"/api/v1/datasets/{dataset.pk}/")
    assert response.status_code == 403
    assert error_of(response)["message"] == "You need the editor role in Search quality to do this."
    assert Dataset.objects.exists()


def test_a_dataset_that_runs_used_is_kept(dataset, editor):
    prompt = prompt_create(team=dataset.team, name="p")
    run_create(dataset=dataset, start_version=prompt.versions.get(), enqueue=False)
    response = token_client(editor).delete(f"/api/v1/datasets/{dataset.pk}/")
    assert response.status_code == 409
    assert error_of(response) == {"code": "conflict", "message": "Dataset sports is used by 1 run(s); it is kept "
                                                                 "while their results refer to it."}
    assert Dataset.objects.exists()


def test_a_nul_byte_in_a_file_is_never_a_500(editor, team):
    """PostgreSQL cannot store it (a 400 there); SQLite can. datasets/readers.py should refuse it on both."""
    response = upload(token_client(editor), team, b"question,answer\nOne\x00?,1\nTwo?,2\nThree?,3\nFour?,4\n")
    assert response.status_code in (201, 400), response.content
