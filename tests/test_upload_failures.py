"""Every way a dataset file can be wrong gives one clear error naming the line (and the field), imports nothing
and is never a 500: on the upload page, over the API and with `manage.py import_dataset`."""

import html
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from datasets.models import Dataset, Example
from tests.support.api import error_of, isolate, token_client

DEEP = b"[" * 100_000 + b"]" * 100_000
GOOD_LINE = b'{"input": "Is ice cold?", "answer": "yes"}\n'

BROKEN = {
    "100k-deep JSON Lines": ("deep.jsonl", GOOD_LINE + b'{"input": "a", "answer": "b", "notes": ' + DEEP + b"}\n",
                             "Line 2, field 'notes': nested more than 32 levels deep"),
    "100k-deep BIG-bench": ("deep.json", b'{"examples": [{"input": "a", "target": "b"},\n{"input": "c", "target": '
                            + DEEP + b"}]}", "Line 2, field 'target': nested more than 32 levels deep"),
    "40-deep JSON Lines": ("deep.jsonl", b'{"input": "a", "answer": "b", "m": {"n": ' + b"[" * 40 + b"]" * 40
                           + b"}}\n", "Line 1, field 'm': nested more than 32 levels deep"),
    "a JSON value past the cell limit": ("long.jsonl", b'{"input": "a", "answer": "b", "m": ["' + b"x" * 60_000
                                         + b'", "' + b"y" * 60_000 + b'"]}\n',
                                         "Line 1, field 'm': more than 100,000 characters"),
    "40-deep BIG-bench": ("deep.json", b'{"examples": [{"input": "a", "target": "b", "m": ' + b"[" * 40 + b"]" * 40
                          + b"}]}", "Example 1, field 'm': nested more than 32 levels deep"),
    "100k-deep choices in a CSV cell": ("deep.csv", b'input,answer,choices\nq,a,"' + b"[" * 60_000 + b"]" * 60_000
                                        + b'"\n', "Line 2, field 'choices': 120,000 characters"),
    "bad encoding": ("bad.csv", b"input,answer\nfine,yes\ncaf\xe9,no\n", "Line 3: the file is not UTF-8"),
    "binary file": ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "Line 1: the file is not UTF-8"),
    "NUL byte": ("nul.csv", b"input,answer\nhello\x00,yes\n", "Line 2: the file holds a NUL byte"),
    "empty file": ("empty.csv", b"", "The file is empty"),
    "empty JSON Lines": ("empty.jsonl", b"\n\n", "The file is empty"),
    "empty BIG-bench": ("empty.json", b"  ", "The file is empty"),
    "header only": ("header.csv", b"input,answer\n", "no examples"),
    "truncated BIG-bench": ("task.json", b'{"examples": [{"input": "a", "target": "b"},\n{"input": "c", "tar',
                            "Line 2: invalid JSON"),
    "truncated JSON line": ("cut.jsonl", GOOD_LINE + b'{"input": "c", "answer', "Line 2: invalid JSON"),
    "BIG-bench that is a list": ("task.json", b'[{"input": "a", "target": "b"}]',
                                 'expected a JSON object with an "examples" list, got a list'),
    "JSON line that is a string": ("s.jsonl", GOOD_LINE + b'"just text"\n',
                                   "Line 2: expected a JSON object per line, got a string"),
    "NaN": ("nan.jsonl", b'{"input": "a", "answer": NaN}\n', "Line 1: the number 'NaN' is not a finite number"),
    "a number past float": ("inf.jsonl", b'{"input": "a", "answer": 1e999}\n', "Line 1: the number '1e999'"),
    "a 5000-digit number": ("big.jsonl", b'{"input": "a", "answer": 1' + b"0" * 5000 + b"}\n",
                            "Line 1: a number in the JSON has too many digits"),
    "an escaped NUL": ("nul.jsonl", GOOD_LINE + b'{"input": "a\\u0000", "answer": "b"}\n',
                       "Line 2, field 'input': holds a NUL character or half of a surrogate pair"),
    "an escaped NUL in a field's name": ("nul.jsonl", b'{"input": "a", "answer": "b", "note\\u0000": 1}\n',
                                         "Line 1: holds a NUL character"),
    "a lone surrogate": ("half.json", b'{"examples": [{"input": "a\\ud800", "target": "b"}]}',
                         "Example 1, field 'input': holds a NUL character or half of a surrogate pair"),
    "a column named twice": ("twice.csv", b"input,answer,note,note\nq,a,1,2\n", "names the column 'note' twice"),
    "a cell past the limit": ("long.csv", b"input,answer\n" + b"x" * 100_001 + b",a\n",
                              "Line 2, field 'input': 100,001 characters, more than the limit of 100,000"),
    "a cell past csv's own limit": ("long.csv", b"input,answer\n" + b"x" * 200_000 + b",a\n",
                                    "Line 2: a field has more than 100,000 characters"),
    "ragged CSV": ("ragged.csv", b"input,answer\na,b\nc,d,e\n", "Line 3: 3 fields where the header has 2"),
    "unknown split": ("split.csv", b"input,answer,split\na,b," + b"z" * 500 + b"\n", "Line 2: unknown split 'zzz"),
    "BIG-bench example without answer": ("task.json", b'{"examples": [{"input": "x"}]}', "Example 1: has neither"),
    "BIG-bench without examples": ("task.json", b'{"name": "t", "examples": []}', "has no examples"),
    "missing column": ("missing.csv", b"input,comment\nhello,none\n", "no answer column"),
    "invalid JSON line": ("bad.jsonl", GOOD_LINE + b'{"input": "c", answer}\n', "Line 2: invalid JSON"),
    "unknown format": ("data.xlsx", b"PK\x03\x04", "Unknown file format '.xlsx'"),
    "empty answer": ("blank.csv", b"input,answer\nhello,\n", "Line 2: the answer ('answer') is empty"),
}


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    isolate(settings, tmp_path)
    settings.MEDIA_ROOT = tmp_path / "media"


def nothing_imported():
    return not Dataset.objects.exists() and not Example.objects.exists()


def page_text(response):
    return html.unescape(response.content.decode())


@pytest.mark.parametrize("case", BROKEN)
def test_the_command_names_the_line_and_imports_nothing(team, tmp_path, case):
    filename, content, message = BROKEN[case]
    path = tmp_path / filename
    path.write_bytes(content)
    with pytest.raises(CommandError) as raised:
        call_command("import_dataset", str(path), name="broken", team=team.name)
    assert message in str(raised.value) and "Nothing was imported." in str(raised.value)
    assert nothing_imported()


@pytest.mark.parametrize("case", BROKEN)
def test_the_api_names_the_line_and_imports_nothing(editor, team, case):
    filename, content, message = BROKEN[case]
    response = token_client(editor).post("/api/v1/datasets/", {"file": SimpleUploadedFile(filename, content),
                                                               "name": "broken", "team": team.pk}, format="multipart")
    assert response.status_code == 400, response.content[:300]
    assert error_of(response)["code"] == "invalid_file"
    assert message in error_of(response)["message"]
    assert nothing_imported()


@pytest.mark.parametrize("case", BROKEN)
def test_the_upload_page_names_the_line_and_imports_nothing(person, team, case):
    filename, content, message = BROKEN[case]
    response = person.post("/datasets/upload/", {"file": SimpleUploadedFile(filename, content), "name": "broken",
                                                 "team": team.pk, "import": "1"})
    assert response.status_code == 200
    assert message in page_text(response)
    assert nothing_imported()


# ---------------------------------------------------------------------------------------------------------
# Seeds, names and limits

CSV = b"question,answer\n" + b"".join(f"What is {i} plus {i}?,{2 * i}\n".encode() for i in range(10))


@pytest.mark.parametrize("seed, message", [("-1", "greater than or equal to 0"), (str(2**70), "less than or equal"),
                                           ("seven", "Enter a whole number"), ("9" * 5000, "Enter a whole number")])
def test_an_odd_seed_on_the_page_is_an_error_beside_it(person, team, seed, message):
    for step in ("preview", "import"):
        response = person.post("/datasets/upload/", {"file": SimpleUploadedFile("sums.csv", CSV), "team": team.pk,
                                                     "seed": seed, step: "1"})
        assert response.status_code == 200
        assert message in response.context["form"].errors["seed"][0]
    assert nothing_imported()


@pytest.mark.parametrize("seed", [-1, 2**70, "seven"])
def test_an_odd_seed_over_the_api_is_a_400(editor, team, seed):
    response = token_client(editor).post("/api/v1/datasets/", {"file": SimpleUploadedFile("sums.csv", CSV),
                                                               "name": "s", "team": team.pk, "seed": seed},
                                         format="multipart")
    assert response.status_code == 400 and error_of(response)["code"] == "invalid"
    assert nothing_imported()


@pytest.mark.parametrize("seed", ["-1", str(2**70)])
def test_an_odd_seed_on_the_command_line_is_a_clear_error(team, tmp_path, seed):
    path = tmp_path / "sums.csv"
    path.write_bytes(CSV)
    with pytest.raises(CommandError, match="The seed must be a whole number from 0 to 2,147,483,647"):
        call_command("import_dataset", str(path), name="s", team=team.name, seed=int(seed))
    assert nothing_imported()


LONG_NAME = "q" * 296 + ".csv"  # 300 characters: more than a file system or the database field takes


def test_a_300_character_file_name_on_the_page(person, team, settings):
    preview = person.post("/datasets/upload/", {"file": SimpleUploadedFile(LONG_NAME, CSV), "team": team.pk,
                                                "preview": "1"})
    assert preview.status_code == 200 and "What is 3 plus 3?" in page_text(preview)
    form = preview.context["form"]
    response = person.post("/datasets/upload/", {"upload": form["upload"].value(), "name": form["name"].value(),
                                                 "team": team.pk, "import": "1"})
    assert response.status_code == 302
    dataset = Dataset.objects.get()
    assert dataset.name == "q" * 200 and dataset.source_filename == "q" * 251 + ".csv"
    assert dataset.examples.count() == 10


def test_a_300_character_file_name_over_the_api(editor, team):
    response = token_client(editor).post("/api/v1/datasets/", {"file": SimpleUploadedFile(LONG_NAME, CSV),
                                                               "name": "sums", "team": team.pk}, format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["source_filename"] == "q" * 251 + ".csv"


def test_a_name_too_long_on_the_command_line_is_a_clear_error(team, tmp_path):
    path = tmp_path / "sums.csv"
    path.write_bytes(CSV)
    with pytest.raises(CommandError, match="A dataset's name has at most 200 characters; this one has 300"):
        call_command("import_dataset", str(path), name="n" * 300, team=team.name)
    assert nothing_imported()


def test_the_page_states_the_limits(person, settings):
    settings.DATASET_MAX_FILE_MB, settings.DATASET_MAX_ROWS, settings.DATASET_MAX_CELL_CHARS = 7, 5000, 900
    settings.DATASET_WORKER_IMPORT_MB = 0.5
    page = page_text(person.get("/datasets/upload/"))
    assert "Up to 7 MB, 5,000 examples and 900 characters per field" in page
    assert "A file over 0.5 MB is imported in the background" in page


def test_too_many_rows_is_an_error_at_every_door(person, editor, team, tmp_path, settings):
    settings.DATASET_MAX_ROWS = 9
    message = "Line 11: the file has more than 9 examples, the limit (DATASET_MAX_ROWS)."
    page = person.post("/datasets/upload/", {"file": SimpleUploadedFile("sums.csv", CSV), "team": team.pk,
                                             "import": "1"})
    assert message in page_text(page)
    api = token_client(editor).post("/api/v1/datasets/", {"file": SimpleUploadedFile("sums.csv", CSV), "name": "s",
                                                          "team": team.pk}, format="multipart")
    assert message in error_of(api)["message"]
    path = tmp_path / "sums.csv"
    path.write_bytes(CSV)
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("import_dataset", str(path), name="s", team=team.name)
    assert nothing_imported()


BIG = b"question,answer\n" + b"".join(f"What is {i} plus {i}?,{2 * i}\n".encode() for i in range(120_000))


def test_a_file_past_the_size_limit_is_refused_as_it_arrives_on_the_page(person, team, settings, tmp_path):
    # Larger than Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) too: that must not answer for us.
    assert len(BIG) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    settings.DATASET_MAX_FILE_MB = 1
    response = person.post("/datasets/upload/", {"file": SimpleUploadedFile("sums.csv", BIG), "name": "s",
                                                 "team": team.pk, "preview": "1"})
    assert response.status_code == 200
    errors = response.context["form"].errors["file"]
    assert errors == ["sums.csv is larger than 1 MB, the largest file a dataset can come from (DATASET_MAX_FILE_MB)."]
    assert response.context["form"]["name"].value() == "s"  # the rest of the form came through
    assert not (tmp_path / "media" / "uploads").exists()  # nothing was kept
    assert nothing_imported()


def test_a_file_past_the_size_limit_is_refused_as_it_arrives_over_the_api(editor, team, settings):
    settings.DATASET_MAX_FILE_MB = 1
    response = token_client(editor).post("/api/v1/datasets/", {"file": SimpleUploadedFile("sums.csv", BIG),
                                                               "name": "s", "team": team.pk}, format="multipart")
    assert response.status_code == 400
    assert error_of(response) == {"code": "invalid_file", "message": "sums.csv is larger than 1 MB, the largest file "
                                  "a dataset can come from (DATASET_MAX_FILE_MB)."}
    assert nothing_imported()


def test_a_file_past_the_size_limit_is_refused_by_the_command(team, settings, tmp_path):
    settings.DATASET_MAX_FILE_MB = 1
    path = tmp_path / "sums.csv"
    path.write_bytes(BIG)
    with pytest.raises(CommandError, match=r"sums.csv is larger than 1 MB"):
        call_command("import_dataset", str(path), name="s", team=team.name)
    assert nothing_imported()


def test_a_file_under_the_limits_still_imports_as_before(person, team):
    lines = [{"input": "Is ice cold?", "answer": "yes", "notes": {"level": [[1, 2], [3]]}, "emoji": "\ud83d\ude00"}]
    content = "\n".join(json.dumps(line) for line in lines * 5).encode()
    response = person.post("/datasets/upload/", {"file": SimpleUploadedFile("ok.jsonl", content), "team": team.pk,
                                                 "import": "1"})
    assert response.status_code == 302
    example = Dataset.objects.get().examples.first()
    assert example.metadata == {"notes": {"level": [[1, 2], [3]]}, "emoji": "😀"}


def test_the_admin_import_names_the_line_and_the_size_limit(admin_client, team, settings):
    filename, content, message = BROKEN["100k-deep JSON Lines"]
    response = admin_client.post("/admin/datasets/dataset/import/", {"team": team.pk, "name": "b", "seed": 0,
                                                                     "file": SimpleUploadedFile(filename, content)})
    assert response.status_code == 200 and message in page_text(response)
    settings.DATASET_MAX_FILE_MB = 1
    response = admin_client.post("/admin/datasets/dataset/import/", {"team": team.pk, "name": "b", "seed": 0,
                                                                     "file": SimpleUploadedFile("sums.csv", BIG)})
    assert response.status_code == 200 and "sums.csv is larger than 1 MB" in page_text(response)
    assert nothing_imported()


def test_fields_past_djangos_own_limit_are_a_400_over_the_api(editor, team, settings):
    response = token_client(editor).post("/api/v1/datasets/", {"name": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1),
                                                               "team": team.pk}, format="multipart")
    assert response.status_code == 400
    assert error_of(response)["message"] == ("The fields besides the file are larger than 2,621,440 bytes; send the "
                                             "dataset as the `file` part.")


@pytest.mark.parametrize("ratios", ["nan,nan,nan", "inf,0,0", "0.5,0.5", "0.7,0.7,-0.4", "a,b,c"])
def test_odd_split_ratios_on_the_command_line_are_a_clear_error(team, tmp_path, ratios):
    path = tmp_path / "sums.csv"
    path.write_bytes(CSV)
    with pytest.raises(CommandError, match="(Split ratios must be three non-negative numbers|expected three numbers)"):
        call_command("import_dataset", str(path), name="s", team=team.name, split=ratios)
    assert nothing_imported()
