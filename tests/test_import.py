"""Importing datasets: the five BIG-bench files, CSV and JSONL with column mapping, and broken files."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from datasets.models import Example
from datasets.readers import DatasetFileError
from datasets.services import dataset_import

ROOT = Path(__file__).resolve().parent.parent
BIGBENCH = ROOT / "data" / "bigbench"


def import_bytes(team, content, filename, **kwargs):
    return dataset_import(team=team, name=kwargs.pop("name", "ds"), file=io.BytesIO(content), filename=filename,
                          **kwargs)


@pytest.mark.parametrize(
    "task, total",
    [("entailed_polarity", 149), ("intent_recognition", 693), ("object_counting", 1000),
     ("sports_understanding", 1000), ("tense", 286)],
)
def test_it_imports_each_bigbench_task_with_a_60_20_20_split(team, task, total):
    with open(BIGBENCH / f"{task}.json", "rb") as file:
        dataset = dataset_import(team=team, name=task, file=file, filename=f"{task}.json")
    train, validation = round(total * 0.6), round(total * 0.2)
    assert dataset.split_counts() == {"train": train, "validation": validation, "test": total - train - validation}
    source = json.loads((BIGBENCH / f"{task}.json").read_text())["examples"]
    for example in dataset.examples.order_by("position")[:50]:
        original = source[example.position]
        assert example.input == original["input"]
        if "target_scores" in original:
            scores = original["target_scores"]
            assert example.expected == max(scores, key=scores.get)
            assert example.choices == list(scores)
        else:
            targets = original["target"] if isinstance(original["target"], list) else [original["target"]]
            assert example.answers == targets
            assert example.choices is None


def test_it_reads_a_target_list_as_expected_answer_and_alternatives(team):
    with open(BIGBENCH / "object_counting.json", "rb") as file:
        dataset = dataset_import(team=team, name="counting", file=file, filename="object_counting.json")
    first = dataset.examples.get(position=0)
    assert (first.expected, first.alternatives) == ("three", ["3"])


def test_it_keeps_the_task_description_and_prefixes(team):
    with open(BIGBENCH / "sports_understanding.json", "rb") as file:
        dataset = dataset_import(team=team, name="sports", file=file, filename="task.json")
    assert dataset.metadata["task_prefix"].startswith("Determine whether")
    assert dataset.source_format == "bigbench"


def test_the_split_is_seeded(team):
    content = (BIGBENCH / "entailed_polarity.json").read_bytes()
    datasets = [import_bytes(team, content, "t.json", name=f"s{n}", seed=seed) for n, seed in enumerate([7, 7, 8])]
    splits = [list(dataset.examples.values_list("split", flat=True)) for dataset in datasets]
    assert splits[0] == splits[1]
    assert splits[0] != splits[2]


def test_it_detects_csv_columns_and_keeps_the_rest_as_metadata(team):
    content = b"question,answer,difficulty\nWhat is 2+2?,4,easy\nCapital of France?,Paris,easy\nIs ice cold?,yes,easy\n"
    dataset = import_bytes(team, content, "qa.csv")
    assert (dataset.input_field, dataset.answer_field) == ("question", "answer")
    example = dataset.examples.get(position=1)
    assert (example.input, example.expected) == ("Capital of France?", "Paris")
    assert example.metadata == {"difficulty": "easy"}


def test_it_uses_the_columns_it_is_told(team):
    content = b"q,a,text\nWhat is 2+2?,4,ignored\n"
    dataset = import_bytes(team, content, "qa.csv", input_field="q", answer_field="a")
    assert dataset.examples.get().input == "What is 2+2?"


def test_it_keeps_the_split_and_choices_the_file_carries(team):
    lines = [
        {"input": "Is the sky blue?", "answer": "yes", "choices": ["yes", "no"], "split": "train"},
        {"input": "Is fire cold?", "answer": "no", "choices": ["yes", "no"], "split": "dev"},
        {"input": "Is snow white?", "answer": "yes", "choices": ["yes", "no"], "split": "test"},
    ]
    content = "\n".join(json.dumps(line) for line in lines).encode()
    dataset = import_bytes(team, content, "qa.jsonl")
    assert list(dataset.examples.values_list("split", flat=True)) == ["train", "validation", "test"]
    assert dataset.split_seed is None
    assert dataset.examples.get(position=0).choices == ["yes", "no"]


def test_it_inserts_in_batches(team, monkeypatch):
    monkeypatch.setattr("datasets.services.BATCH_SIZE", 7)
    rows = "".join(f"item {i},{i % 3}\n" for i in range(100))
    dataset = import_bytes(team, ("input,label\n" + rows).encode(), "many.csv")
    assert dataset.examples.count() == 100
    assert dataset.examples.get(position=99).expected == "0"


# Broken files, at every door: tests/test_upload_failures.py.


def test_an_error_late_in_the_file_leaves_nothing(team):
    rows = "".join(f"item {i},yes\n" for i in range(5000)) + "oops\n"
    with pytest.raises(DatasetFileError, match="Line 5002"):
        import_bytes(team, ("input,answer\n" + rows).encode(), "late.csv")
    assert Example.objects.count() == 0


def test_a_name_is_unique_per_team(team):
    import_bytes(team, b"input,answer\na,b\n", "a.csv", name="same")
    with pytest.raises(DatasetFileError, match="already has a dataset named 'same'"):
        import_bytes(team, b"input,answer\na,b\n", "a.csv", name="same")


@pytest.mark.django_db(transaction=True)
def test_the_command_exits_non_zero_on_failure_and_prints_counts_on_success(team, tmp_path, settings):
    env_db = settings.DATABASES["default"]
    if env_db["ENGINE"].endswith("sqlite3") and env_db["NAME"].startswith(("file:memorydb", ":memory:")):
        pytest.skip("the child process cannot see an in-memory test database")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "a"\n')
    env = {"DATABASE_URL": _url(env_db), "PATH": "/usr/bin:/bin", "SECRET_KEY": os.environ["SECRET_KEY"]}
    command = [sys.executable, str(ROOT / "manage.py"), "import_dataset"]
    failed = subprocess.run([*command, str(bad), "--name", "x", "--team", team.name], capture_output=True, text=True,
                            env=env)
    assert failed.returncode != 0
    assert "Line 1: invalid JSON" in failed.stderr
    good = subprocess.run([*command, str(BIGBENCH / "entailed_polarity.json"), "--name", "ep", "--team", team.name],
                          capture_output=True, text=True, env=env)
    assert good.returncode == 0, good.stderr
    assert "train 89, validation 30, test 30" in good.stdout


def _url(db):
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
