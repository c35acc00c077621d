"""`python -m benchmarks.screening` against a loopback model whose right answers are known, on one small task."""

import json
import random
import zlib

import pytest

from optimization.strategies.operators import FORMAT_MARK
from tests.loopback.student import FussyStudent, bigbench_answers
from tests.support.benchmarks import SCORE, lines_matching, run_benchmark

TASK = "sports_understanding"
ROW = rf"^{TASK} +(meta_prompt|critique) +(\d+) (screened|unscreened) +(\d+) +(\d*) +{SCORE} +(\d+)$"
ITERATIONS, CANDIDATES = 4, 3


def write_prompts(body):
    """A dozen prompts, each worded its own way (a hash of the request draws them), half stating the format."""
    rng = random.Random(zlib.crc32(json.dumps(body["messages"]).encode()))
    prompts = []
    for _ in range(12):
        words = " ".join(rng.choice(("Think", "carefully", "about", "the", "claim", "and", "judge", "it"))
                         for _ in range(rng.randint(3, 12)))
        rule = f"{FORMAT_MARK}." if rng.random() < 0.5 else "Explain your reasoning."
        prompts.append({"system_prompt": f"{words} ({rng.random():.6f})",
                        "output_instruction": f"Answer the question.\n{rule}"})
    return json.dumps({"prompts": prompts})


def mean(values):
    return sum(values) / len(values)


@pytest.mark.slow
def test_it_scores_what_screening_rejected_and_prints_the_savings_the_cost_and_the_precision():
    # The student knows three examples in four under a prompt that states the format, which three by the prompt's
    # wording: prompts the forest cannot tell apart by their features still score differently.
    with FussyStudent(bigbench_answers(TASK), write_prompts=write_prompts, varies_with_wording=True) as server:
        done = run_benchmark("screening", server, "--tasks", TASK, "--examples-per-split", "8", "--max-iterations",
                             str(ITERATIONS), "--candidates-per-iteration", str(CANDIDATES), "--seeds", "1")
    output = done.stdout
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [(strategy, int(seed), arm, int(scored), int(rejected or 0), float(test), int(calls))
            for strategy, seed, arm, scored, rejected, test, calls in lines_matching(ROW, output)]
    assert [row[:3] for row in rows] == [(strategy, 0, arm) for strategy in ("meta_prompt", "critique")
                                         for arm in ("screened", "unscreened")]
    screened = [row for row in rows if row[2] == "screened"]
    unscreened = [row for row in rows if row[2] == "unscreened"]
    # Both score at most the candidates of every iteration; the screened run was offered three times as many.
    assert all(0 < scored <= ITERATIONS * CANDIDATES for *_, scored, _, _, _ in rows)
    assert all(0 < rejected <= 2 * scored for *_, scored, rejected, _, _ in screened)
    assert all(rejected == 0 for *_, rejected, _, _ in unscreened)

    scored, rejected = sum(row[3] for row in screened), sum(row[4] for row in screened)
    [(total_scored, other_scored, left, proposals, saved)] = lines_matching(
        r"^scorings: screened (\d+), unscreened (\d+) candidates scored; screening left (\d+) of (\d+) proposals "
        r"unscored: (\d\.\d\d) of", output)
    assert (int(total_scored), int(other_scored)) == (scored, sum(row[3] for row in unscreened))
    assert (int(left), int(proposals)) == (rejected, scored + rejected)
    assert float(saved) == pytest.approx(rejected / (scored + rejected), abs=0.006)

    [cost] = lines_matching(r"^test score cost \(screened - unscreened, 2 pairs\): ([+-]\d\.\d{3}) \(95 %", output)
    assert float(cost) == pytest.approx(mean([s[5] - u[5] for s, u in zip(screened, unscreened)]), abs=0.0006)

    precisions = lines_matching(r"^rejected by (the forest|proposal order).*: (\d+) in (\d+) iterations; (\d+) would "
                                r"not have beaten the best kept: precision (\d\.\d\d|nan)$", output)
    assert [kind for kind, *_ in precisions] == ["the forest", "proposal order"]
    assert sum(int(count) for _, count, *_ in precisions) == rejected
    # The forest needs six scored prompts: the start and three candidates an iteration have them from the third.
    [(_, by_forest, forest_iterations, right, precision), (_, by_order, order_iterations, *_)] = precisions
    assert int(forest_iterations) > 0 and int(order_iterations) == 2 * 2
    assert float(precision) == pytest.approx(int(right) / int(by_forest), abs=0.006)

    ratio = mean([row[5] for row in screened]) / mean([row[5] for row in unscreened])
    assert output.rstrip().splitlines()[-1] == f"screening ratio: {ratio:.2f}"
