"""`python -m benchmarks.racing` against a loopback model whose answers are known, on one small task."""

import json

import pytest

from benchmarks import bigbench
from tests.loopback.student import FussyStudent, bigbench_answers
from tests.support.benchmarks import lines_matching, run_benchmark

TASK = "sports_understanding"
SETTINGS = ("--tasks", TASK, "--examples-per-split", "24", "--max-iterations", "3")


@pytest.mark.slow
def test_the_replay_saves_what_a_race_saves_and_needs_no_model_once_the_answers_are_kept(tmp_path):
    with FussyStudent(bigbench_answers(TASK)) as server:
        done = run_benchmark("racing", server, *SETTINGS, "--seeds", "1", "--answers", str(tmp_path))
        raced = run_benchmark("quality", server, *SETTINGS, "--seed", "0", "--no-grid")
    assert done.returncode == 0, done.stderr
    assert raced.returncode == 0, raced.stderr
    [(with_racing, without, saving, changed, iterations)] = lines_matching(
        rf"^{TASK}, seed 0: candidates' answers (\d+) with racing / (\d+) without, saving (\d\.\d\d); (\d+) of (\d+) "
        r"picks changed$", done.stdout)
    # After the format is stated, every edit left makes the student wrong everywhere: the race drops them early,
    # and still picks what scoring every answer picks.
    assert int(with_racing) < int(without) and changed == "0" and iterations == "3"
    # The replay is the loop's own race: it saves what a run that raced saved.
    [candidates_saving] = lines_matching(r"^of the candidates' validation answers .*: overall (\d\.\d\d);",
                                         raced.stdout)
    assert saving == candidates_saving
    assert done.stdout.rstrip().splitlines()[-2:] == [
        "picks changed: 0 of 3 iterations", f"racing saving: {1 - int(with_racing) / int(without):.3f}"]

    kept = json.loads((tmp_path / f"{TASK}-seed0.json").read_text())
    assert len(kept["iterations"]) == 3 and all(len(i["best"]) == 24 for i in kept["iterations"])
    # Read back, the kept answers replay the same without a model to ask (the server is gone).
    again = run_benchmark("racing", server, *SETTINGS, "--seeds", "1", "--answers", str(tmp_path))
    assert again.returncode == 0, again.stderr
    assert again.stdout == done.stdout


@pytest.mark.slow
def test_it_measures_the_task_files_of_another_directory(tmp_path):
    held_out = tmp_path / "tasks"
    held_out.mkdir()
    (held_out / "held_out.json").write_bytes((bigbench.TASKS_DIR / f"{TASK}.json").read_bytes())
    with FussyStudent(bigbench_answers(TASK)) as server:
        done = run_benchmark("racing", server, "--tasks-dir", str(held_out), "--examples-per-split", "12",
                             "--max-iterations", "1", "--seeds", "1")
    assert done.returncode == 0, done.stderr
    assert lines_matching(r"^(\w+), seed 0: candidates' answers", done.stdout) == ["held_out"]


def test_it_says_when_a_directory_holds_no_task_or_not_the_task_asked(tmp_path):
    with FussyStudent({}) as server:
        empty = run_benchmark("racing", server, "--tasks-dir", str(tmp_path), timeout=60)
        unknown = run_benchmark("racing", server, "--tasks", "snarks", timeout=60)
    assert empty.returncode == 2
    assert empty.stderr.strip().endswith(f"no BIG-bench task files (NAME.json) in {tmp_path}")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().endswith(
        "unknown task snarks; use some of entailed_polarity, intent_recognition, object_counting, "
        "sports_understanding, tense")
