"""`python -m benchmarks.quality` against a loopback model whose answers are known, on one small task."""

import json
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from aiohttp import web

from optimization.strategies.operators import FORMAT_MARK, LENGTH_MARK
from tests.loopback.openai_server import OpenAIServer, completion

ROOT = Path(__file__).resolve().parent.parent
TASK = "sports_understanding"
SCORE = r"(\d\.\d{3})"


class Student(OpenAIServer):
    """Right only when the prompt states the answer format, sets no length limit and shows no demonstrations (they
    confuse it), and then on three examples in four (by a hash of the input); otherwise it rambles."""

    def __init__(self, answers):
        super().__init__()
        self.answers = answers

    async def chat_completions(self, request):
        body = await request.json()
        self.requests.append(body)
        user = body["messages"][-1]["content"]
        example = next((text for text in self.answers if text in user), None)
        shown = any(message["role"] == "assistant" for message in body["messages"])
        knows = example and FORMAT_MARK in user and LENGTH_MARK not in user and not shown
        knows = knows and zlib.crc32(example.encode()) % 4
        reply = completion(body)
        reply["choices"][0]["message"]["content"] = self.answers[example] if knows else "Well, it depends."
        return web.json_response(reply)


def expected_answers():
    task = json.loads((ROOT / "data" / "bigbench" / f"{TASK}.json").read_text())
    return {e["input"]: max(e["target_scores"], key=e["target_scores"].get) for e in task["examples"]}


def lines_matching(pattern, output):
    found = re.findall(pattern, output, flags=re.MULTILINE)
    assert found, f"no line matches {pattern!r} in:\n{output}"
    return found


@pytest.mark.slow
def test_it_prints_each_runs_figures_and_the_ratios_they_make():
    with Student(expected_answers()) as server:
        env = os.environ | {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test-key",
                            "OPENAI_MODEL": "gpt-4o-mini", "DJANGO_SETTINGS_MODULE": "promptopt.settings"}
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.quality", "--provider", "openai", "--tasks", TASK,
             "--examples-per-split", "24", "--max-iterations", "3", "--seed", "1"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )
        requests = len(server.requests)
    output = done.stdout
    assert done.returncode == 0, done.stderr
    [(size, answer, baseline)] = lines_matching(
        rf"^{TASK}: (\d+) test examples; baseline \(always '(\w+)', chosen on train\): test {SCORE}$", output)
    assert size == "24" and answer in ("plausible", "implausible")
    runs = lines_matching(
        rf"^  (.+?): (?:start {SCORE}, )?best validation {SCORE} test {SCORE}; (\d+) calls \((\d+) paid", output)
    assert [label for label, *_ in runs] == ["loop, racing from 10", "loop, no racing", "grid"]
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
    [calls_share] = lines_matching(r"with \d+ / \d+ = (\d\.\d\d) of its calls$", output)
    assert float(calls_share) == pytest.approx(int(racing_calls) / int(grid[4]), abs=0.006)
    # Four sets of format rules (none, the format, the length, both) by 0, 1, 3, 5 demonstrations in two draws.
    [picked] = lines_matching(r"^    picked: (\d+) prompts; best: (.*)$", output)
    assert picked == ("28", "state format; 0 demonstrations")
    verdict = lines_matching(r"^    verdict: (.*)$", output)[0]
    offered = float(racing_test) if "is offered for review" in verdict else float(start)
    assert output.rstrip().splitlines()[-1] == f"baseline ratio: {offered / float(baseline):.2f}"


@pytest.mark.slow
def test_without_the_grid_it_measures_racing_and_the_baseline_and_says_the_grid_was_left_out():
    with Student(expected_answers()) as server:
        env = os.environ | {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test-key",
                            "OPENAI_MODEL": "gpt-4o-mini", "DJANGO_SETTINGS_MODULE": "promptopt.settings"}
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.quality", "--provider", "openai", "--tasks", TASK,
             "--examples-per-split", "12", "--max-iterations", "1", "--seed", "1", "--no-grid"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )
    assert done.returncode == 0, done.stderr
    runs = lines_matching(r"^  (.+?): start .*; (\d+) calls", done.stdout)
    assert [label for label, _ in runs] == ["loop, racing from 10", "loop, no racing"]
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
