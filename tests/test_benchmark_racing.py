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
    # The replay is the loop's own race: it saves exactly the answers a run that raced saved.
    [dropped_before] = lines_matching(r"^    verdict: .*\(Racing dropped candidates before (\d+) of their answers\.\)$",
                                      raced.stdout)
    assert int(without) - int(with_racing) == int(dropped_before)
    assert done.stdout.rstrip().splitlines()[-2:] == [
        "picks changed: 0 of 3 iterations", f"racing saving: {1 - int(with_racing) / int(without):.3f}"]

    kept = json.loads((tmp_path / f"{TASK}-seed0.json").read_text())
    assert len(kept["iterations"]) == 3 and all(len(i["best"]) == 24 for i in kept["iterations"])
    # Each iteration races against the best so far: the pick of the one before, or the best before that.
    for before, after in zip(kept["iterations"], kept["iterations"][1:]):
        picked = [c["scores"] for c in before["candidates"] if c["number"] == before["picked"]]
        assert after["best"] == (picked[0] if picked else before["best"])
    assert kept["iterations"][0]["picked"] is not None
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


def iteration(best, candidates):
    """An iteration as the benchmark keeps it: the best so far's scores and each candidate's (number: (length,
    scores)), in race order."""
    return {"best_score": sum(best) / len(best), "best": best,
            "candidates": [{"number": number, "length": length, "scores": scores}
                           for number, (length, scores) in candidates.items()]}


def test_the_replay_picks_as_full_scoring_does_the_shorter_of_a_tie_and_nothing_that_does_not_improve():
    from types import SimpleNamespace

    from benchmarks.racing import replayed

    best = [1.0 if e % 2 == 0 else 0.0 for e in range(20)]  # right on 10 of 20
    two_more = [1.0 if e % 2 == 0 or e in (17, 19) else 0.0 for e in range(20)]  # the best's, and 2 more at the end
    one_more = [1.0 if e % 2 == 0 or e == 19 else 0.0 for e in range(20)]
    run = SimpleNamespace(best_score=0.5, metric="exact_match", seed=0)
    # Both answer everything (they agree with the best until the last slices); the paired test cannot tell 12 of 20
    # from 11 of 20, so the shorter prompt wins the tie.
    assert replayed(run, iteration(best, {7: (100, two_more), 8: (50, one_more)}), 5) == (40, 8)
    assert replayed(run, iteration(best, {7: (50, two_more), 8: (100, one_more)}), 5) == (40, 7)
    # The best's own answers answer to the end and pick nothing: they do not improve on it.
    assert replayed(run, iteration(best, {7: (50, list(best))}), 5) == (20, None)


def test_a_changed_pick_names_the_picked_versions_test_score():
    from benchmarks.racing import version

    answers = {"test": {"3": 0.5}}  # version numbers as JSON keeps them, and as a fresh collection now stores them
    assert version(3, answers) == "v3 (test 0.500)"
    assert version(4, answers) == "v4" and version(None, answers) == "none (no improvement)"


def test_a_task_whose_runs_answered_no_candidate_says_so_rather_than_a_saving_of_nan(capsys):
    from benchmarks.racing import report, summarize

    totals = {("tense", 0): report("tense", 0, {"iterations": [], "metric": "exact_match", "test": {}}, race_from=4)}
    summarize(totals, seeds=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "tense, seed 0: candidates' answers 0 with racing / 0 without, no saving to measure; 0 of 0 " \
                       "picks changed"
    assert "seed 0: no candidate answered, no saving to measure; 0 of 0 picks changed" in lines
    assert lines[-1] == "racing saving: none to measure" and "nan" not in "\n".join(lines)
