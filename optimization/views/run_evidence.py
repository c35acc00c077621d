"""What a run page shows of a run's evidence: where it is, in words; the test-split comparison of the best
version with the start and the constant-answer baseline; the chart of the scores; the confusion matrix."""


from django.db.models import Count, Q

from datasets.models import Split

from ..batch_prediction.services import waiting_words
from ..models import Evaluation, RunStatus, Step
from ..selectors import overfitting_gap
from ..statistics import Comparison
from ..verdict import GAIN, p_words, significant

SCORED_SPLITS = (Split.VALIDATION, Split.TEST)


def progress_words(run):
    """Where the run is, in a sentence."""
    if run.status == RunStatus.QUEUED:
        if run.cancel_requested:
            return "Cancelling: the worker stops it at its next check."
        return "Waiting for a worker to pick it up. If it stays queued, check that a worker runs (make worker)."
    if run.status == RunStatus.RUNNING:
        if run.cancel_requested:
            return "Cancelling: the worker stops it at its next check, within seconds."
        if run.step == Step.FINAL_TEST:
            return (f"Iterations done ({run.stop_reason}). Now scoring the start, the best version and the "
                    "constant-answer baseline on the test split.")
        return f"Iteration {run.iteration} of at most {run.max_iterations}: step {run.get_step_display()}."
    if run.status == RunStatus.WAITING:
        return waiting_words(run)
    if run.status == RunStatus.SUCCEEDED:
        return f"Finished. {run.stop_reason} {verdict_headline(run)}".rstrip()
    if run.status == RunStatus.CANCELLED:
        return run.stop_reason or "Cancelled."
    return "Stopped by an error; nothing after it ran."


def verdict_headline(run):
    """The verdict in one short sentence; the comparison below the progress has it in full."""
    best = run.best_version
    if not run.verdict:  # a run finished before verdicts were written
        return ""
    if best is None or best == run.start_version:
        return "Nothing new is offered for review."
    if best.held_back:
        return f"{best} is held back, not offered for review: the comparison below says why."
    return f"{best} is offered for review."


def comparison_of(run):
    """The test-split comparison of the best version with the start and the constant-answer baseline, in numbers,
    and the run's verdict in words."""
    if run.test_delta is None:
        return None
    best = run.best_or_start()
    evaluations = {
        (e.version_id, e.split): e
        for e in Evaluation.objects.filter(run=run).filter(Q(version__in=[best, run.start_version]) |
                                                           Q(version__isnull=True)).annotate(n=Count("predictions"))
    }
    baseline = evaluations.get((None, Split.TEST))
    rows = [
        _comparison_row(f"start v{run.start_version.number}", run.start_version, evaluations, run.start_version.pk,
                        best != run.start_version and Comparison(run.test_delta, run.ci_low, run.ci_high,
                                                                 run.p_value)),
        _comparison_row(f"best v{best.number}", best, evaluations, best.pk, None),
    ]
    if baseline is not None:
        rows.append(_comparison_row(
            f"baseline: always “{baseline.baseline_answer}”", None, evaluations, None,
            Comparison(run.baseline_delta, run.baseline_ci_low, run.baseline_ci_high, run.baseline_p_value),
        ))
    test = evaluations.get((best.pk, Split.TEST))
    validation = evaluations.get((best.pk, Split.VALIDATION))
    return {
        "rows": rows,
        "gap": overfitting_gap({e.split: e.score for e in (test, validation) if e is not None}),
        "examples": test.n if test else 0,
        "best_version": best,
        "offered": best != run.start_version and not best.held_back,
        "meaning": run.verdict or _meaning_without_baseline(run, best),
    }


def _comparison_row(name, version, evaluations, version_id, comparison):
    """One line of the comparison: scores per split, and the best version − this one on test."""
    scored = [evaluations.get((version_id, split)) for split in SCORED_SPLITS]
    row = {"name": name, "version": version, "scores": scored,
           "constant": any(e is not None and e.constant_answer for e in scored) and version is not None}
    if comparison and comparison.delta is not None:
        note = ("not higher" if comparison.delta <= GAIN else "" if significant(comparison) else "could be chance")
        row |= {"delta": f"{comparison.delta:+.2f}", "ci": f"{comparison.ci_low:+.2f} to {comparison.ci_high:+.2f}",
                "p": p_words(comparison.p_value), "note": note}
    return row


def _meaning_without_baseline(run, best):
    """What a run finished before baselines were measured says: its comparison with the start only."""
    if best == run.start_version:
        return ("No candidate beat the start on the validation split, so the start stays the best version; "
                "the test split shows how it does on examples it was never tuned on.")
    return (f"{best} against the start on test: difference {run.test_delta:+.2f}, 95 % interval "
            f"{run.ci_low:+.2f} to {run.ci_high:+.2f}, {p_words(run.p_value)}. This run predates the "
            "constant-answer baseline, so it is not compared with one.")


def predicted_words(predicted):
    return "" if predicted is None else f", predicted {predicted:.2f} by the meta-model"


def score_chart(run, width=640, height=220):
    """The best validation score after each iteration (and each candidate's) as coordinates for an SVG."""
    validation = Evaluation.objects.filter(run=run, split=Split.VALIDATION, score__isnull=False)
    start = validation.filter(version=run.start_version).values_list("score", flat=True).first()
    baseline = validation.filter(version__isnull=True).first()
    best = [(0, start)] if start is not None else []
    best += [(i.number, i.best_score_after) for i in run.iterations.order_by("number")
             if i.best_score_after is not None]
    candidates = list(
        validation.filter(version__isnull=False, iteration__isnull=False).exclude(version=run.start_version)
        .values_list("iteration__number", "score", "version__number", "version__predicted_score")
    )
    if not best and not candidates:
        return None
    left, right, top, bottom = 40, 16, 12, 30
    span = max([1] + [n for n, _ in best] + [n for n, *_ in candidates])

    def x(n):
        return round(left + n / span * (width - left - right), 1)

    def y(score):
        return round(top + (1 - score) * (height - top - bottom), 1)

    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "bottom": height - bottom,
        "line": " ".join(f"{x(n)},{y(s)}" for n, s in best),
        "best": [{"x": x(n), "y": y(s), "title": f"{'start' if n == 0 else f'iteration {n}'}: best {s:.2f}"}
                 for n, s in best],
        "candidates": [
            {"x": x(n), "y": y(s), "title": f"v{v} (iteration {n}): {s:.2f}" + predicted_words(p)}
            for n, s, v, p in candidates
        ],
        "target": y(run.target),
        "baseline": baseline and {"y": y(baseline.score), "answer": baseline.baseline_answer,
                                  "score": f"{baseline.score:.2f}"},
        "y_ticks": [{"y": y(t), "label": f"{t:.2f}"} for t in (0, 0.25, 0.5, 0.75, 1)],
        "x_ticks": [{"x": x(n), "label": "start" if n == 0 else str(n)}
                    for n in range(0, span + 1, max(1, span // 10))],
    }
