"""`python -m benchmarks.quality` against a loopback model whose answers are known, on one small task."""

import os
import subprocess
import sys

import pytest

from benchmarks import bigbench
from tests.loopback.student import FussyStudent, bigbench_answers
from tests.support.benchmarks import ROOT, SCORE, lines_matching, run_benchmark

TASK = "sports_understanding"


@pytest.mark.slow
def test_it_prints_each_runs_figures_and_the_ratios_they_make():
    with FussyStudent(bigbench_answers(TASK)) as server:
        done = run_benchmark("quality", server, "--tasks", TASK, "--examples-per-split", "24", "--max-iterations", "3",
                             "--seed", "1")
        requests = len(server.requests)
    output = done.stdout
    assert done.returncode == 0, done.stderr
    [(size, answer, baseline)] = lines_matching(
        rf"^{TASK}: (\d+) test examples; baseline \(always '(\w+)', chosen on train\): test {SCORE}$", output)
    assert size == "24" and answer in ("plausible", "implausible")
    runs = lines_matching(
        rf"^  (.+?): (?:start {SCORE}, )?best validation {SCORE} test {SCORE}; (\d+) calls \((\d+) paid", output)
    assert [label for label, *_ in runs] == ["loop, racing from 5", "loop, no racing", "grid"]
    (_, start, racing_val, racing_test, racing_calls, _), (_, _, _, full_test, full_calls, _), grid = runs
    # The student rambles under the starting prompt, and answers three in four once the format is stated.
    assert float(start) == 0.0 and 0.5 < float(racing_test) < 1.0 and 0.5 < float(racing_val) < 1.0
    assert full_test == racing_test and float(grid[3]) == float(racing_test)
    # Every answer paid for reached the server once; the rest came from the cache the three share.
    assert sum(int(paid) for *_, paid in runs) == requests
    # After the format is stated, every edit left makes the student wrong everywhere: racing drops them early.
    assert int(racing_calls) < int(full_calls) < int(grid[4])
    [saving] = lines_matching(r"^racing saving \(1 - calls with racing / calls without\): overall (\d\.\d\d);", output)
    assert float(saving) == pytest.approx(1 - int(racing_calls) / int(full_calls), abs=0.006)
    # Racing saves only on the candidates' validation answers: the same answers saved, out of fewer calls.
    [candidates_saving] = lines_matching(r"^of the candidates' validation answers .*: overall (\d\.\d\d);", output)
    start_and_test = 24 + 2 * 24  # the start on validation; the start and the best on test
    assert float(candidates_saving) == pytest.approx(
        1 - (int(racing_calls) - start_and_test) / (int(full_calls) - start_and_test), abs=0.006)
    [calls_share] = lines_matching(r"with \d+ / \d+ = (\d\.\d\d) of its calls$", output)
    assert float(calls_share) == pytest.approx(int(racing_calls) / int(grid[4]), abs=0.006)
    # Four sets of format rules (none, the format, the length, both) by 0, 1, 3, 5 demonstrations in two draws.
    [picked] = lines_matching(r"^    picked: (\d+) prompts; best: (.*)$", output)
    assert picked == ("28", "state format; 0 demonstrations")
    verdict = lines_matching(r"^    verdict: (.*)$", output)[0]
    offered = float(racing_test) if "is offered for review" in verdict else float(start)
    assert output.rstrip().splitlines()[-1] == f"baseline ratio: {offered / float(baseline):.2f}"


@pytest.mark.slow
def test_without_the_grid_it_measures_racing_and_the_baseline_and_says_the_grid_was_left_out(tmp_path):
    # A task file from another directory, under a name data/bigbench does not have.
    (tmp_path / "held_out.json").write_bytes((bigbench.TASKS_DIR / f"{TASK}.json").read_bytes())
    with FussyStudent(bigbench_answers(TASK)) as server:
        done = run_benchmark("quality", server, "--tasks-dir", str(tmp_path), "--examples-per-split", "12",
                             "--max-iterations", "1", "--seed", "1", "--no-grid")
    assert done.returncode == 0, done.stderr
    assert lines_matching(r"^(\w+): \d+ test examples", done.stdout) == ["held_out"]
    runs = lines_matching(r"^  (.+?): start .*; (\d+) calls", done.stdout)
    assert [label for label, _ in runs] == ["loop, racing from 5", "loop, no racing"]
    assert "picked:" not in done.stdout
    assert "loop (racing) against the grid: not measured (--no-grid)" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith("baseline ratio: ")


def test_it_says_which_setting_a_run_refuses(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.quality", "--provider", "openai", "--tasks", TASK,
         "--examples-per-split", "0"],
        cwd=ROOT, env=os.environ | {"DJANGO_SETTINGS_MODULE": "promptopt.settings"}, capture_output=True, text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("python -m benchmarks.quality: Examples per split")
