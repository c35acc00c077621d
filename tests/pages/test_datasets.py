"""The dataset pages: previewing a file then importing it, broken files and rows shown where they break, the
examples browser, and the examples' numbers."""

import json
import re

from django.core.files.uploadedfile import SimpleUploadedFile

from datasets.models import Dataset
from tests.pages.support import client_for, number_beside, text
from tests.support.people import BIGBENCH


def test_it_previews_a_bigbench_file_then_imports_it(editor, team, media):
    client = client_for(editor)
    path = BIGBENCH / "tense.json"
    upload = SimpleUploadedFile("tense.json", path.read_bytes())
    preview = client.post("/datasets/upload/", {"file": upload, "team": team.pk, "seed": "3", "preview": "1"})
    page = text(preview)
    assert preview.status_code == 200
    assert "Preview of tense.json" in page
    assert "She had applied for the job." in page and "She has applied for the job." in page
    assert "<code>target</code>" in page and "seed 3" in page
    assert Dataset.objects.count() == 0  # nothing is imported by a preview
    assert len(list((media / "uploads" / "pending").glob("*-tense.json"))) == 1  # kept for the import

    form = preview.context["form"]
    token, name = form["upload"].value(), form["name"].value()
    assert name == "tense"
    assert 'type="file"' in page and "required" not in str(form["file"])  # the kept file will do
    response = client.post("/datasets/upload/", {"upload": token, "name": name, "team": team.pk, "seed": "3",
                                                 "import": "1"})
    dataset = Dataset.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/datasets/{dataset.pk}/"
    assert (dataset.name, dataset.split_seed, dataset.examples.count()) == ("tense", 3, 286)
    assert list((media / "uploads" / "pending").glob("*")) == []  # the kept file is gone once imported
    detail = text(client.get(response["Location"]))
    assert "Imported 286 examples into tense." in detail and "She had applied for the job." in detail


def test_a_broken_file_shows_where_it_is_broken_and_imports_nothing(editor, team):
    client = client_for(editor)
    broken = SimpleUploadedFile("task.json", b'{"examples": [{"input": "a", "target": "b"},\n  {"input": }]}')
    response = client.post("/datasets/upload/", {"file": broken, "name": "bad", "team": team.pk, "preview": "1"})
    assert response.status_code == 200
    assert "Line 2: invalid JSON" in text(response)
    assert "Import</button>" not in text(response)
    assert Dataset.objects.count() == 0


def test_a_row_broken_after_the_preview_is_caught_by_the_import(editor, team):
    client = client_for(editor)
    lines = ["question,answer"] + [f"q{i},a{i}" for i in range(1, 15)] + ["q15,a15,extra"]
    upload = SimpleUploadedFile("qa.csv", "\n".join(lines).encode())
    preview = client.post("/datasets/upload/", {"file": upload, "team": team.pk, "preview": "1"})
    assert "q10" in text(preview) and "q11" not in text(preview)  # ten rows shown
    token = preview.context["form"]["upload"].value()
    response = client.post("/datasets/upload/", {"upload": token, "name": "qa", "team": team.pk, "import": "1"})
    assert response.status_code == 200
    assert "Line 16: 3 fields where the header has 2" in text(response)
    assert Dataset.objects.count() == 0


def test_an_unknown_kind_of_file_is_refused_on_the_form(editor, team):
    upload = SimpleUploadedFile("notes.txt", b"hello")
    response = client_for(editor).post("/datasets/upload/", {"file": upload, "team": team.pk, "preview": "1"})
    assert response.status_code == 200 and "Unknown file format &#x27;.txt&#x27;" in text(response)


def test_a_viewer_cannot_upload(viewer, team):
    upload = SimpleUploadedFile("tense.json", (BIGBENCH / "tense.json").read_bytes())
    response = client_for(viewer).post("/datasets/upload/", {"file": upload, "name": "t", "team": team.pk,
                                                             "import": "1"})
    assert response.status_code == 403 and "You need the editor role in Search quality" in text(response)
    assert Dataset.objects.count() == 0


def test_the_examples_browser_searches_filters_and_pages(editor, dataset):
    client = client_for(editor)
    url = f"/datasets/{dataset.pk}/"
    first = dataset.examples.order_by("position").first()
    found = client.get(url, {"q": first.input[:25]})
    assert first.input in text(found) and found.context["page"].paginator.count >= 1
    test_split = client.get(url, {"split": "test"})
    assert test_split.context["page"].paginator.count == dataset.split_counts()["test"]
    assert {e.split for e in test_split.context["page"]} == {"test"}
    assert client.get(url, {"page": "999"}).context["page"].number == 3  # 60 examples, 25 a page
    assert "No example matches" in text(client.get(url, {"q": "no such words anywhere"}))
    fragment = client.get(url, {"q": first.input[:25]}, headers={"HX-Request": "true"})
    assert first.input in text(fragment) and "<html" not in text(fragment)


def test_examples_are_numbered_from_1_in_the_preview_and_once_imported(editor, team):
    task = {"examples": [{"input": f"Question {n}?", "target": f"Answer {n}"} for n in (1, 2, 3)]}
    client = client_for(editor)
    upload = SimpleUploadedFile("questions.json", json.dumps(task).encode())
    preview = client.post("/datasets/upload/", {"file": upload, "team": team.pk, "preview": "1"})
    imported = client.post("/datasets/upload/", {"upload": preview.context["form"]["upload"].value(),
                                                 "name": "questions", "team": team.pk, "import": "1"}, follow=True)
    assert "Imported 3 examples" in text(imported)
    for n in (1, 2, 3):
        assert number_beside(text(preview), f"Question {n}?") == number_beside(text(imported), f"Question {n}?") == n


def test_a_csv_preview_numbers_examples_from_1_and_shows_their_line(editor, team):
    upload = SimpleUploadedFile("qa.csv", b"input,answer\nFirst?,a\nSecond?,b\n")
    preview = text(client_for(editor).post("/datasets/upload/", {"file": upload, "team": team.pk, "preview": "1"}))
    assert number_beside(preview, "First?") == 1
    assert re.search(r'<td class="num">1</td>\s*<td class="num muted">2</td>\s*<td class="text">First\?', preview)
