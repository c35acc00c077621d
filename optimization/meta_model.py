"""A meta-model that predicts a prompt's validation score from its text, before paying to measure it.

A run with `screen_factor` above 1 asks its strategy for that many times the candidates it will score; a random
forest fitted on the (prompt, validation score) pairs measured so far keeps those it predicts best. The features
are read from the prompt's text and note alone, so predicting costs no LLM call:

    system prompt words, output instruction words   how long the prompt is
    demonstrations                                  how many solved examples it shows
    {input} in the output instruction               whether the input is placed, or only appended
    lines                                           how structured it is
    answer-format words                             how many of FORMAT_WORDS it says ("exactly one of", ...)
    one flag per operator in the note               which edits of the operators strategy made it

With fewer than MIN_PAIRS measured pairs, or when they all scored the same, there is nothing to learn from: the
first candidates proposed are kept, as the strategy ordered them.
"""

from datasets.models import Split

from .models import Evaluation
from .strategies import Candidate

MIN_PAIRS = 6
EARLIER_PAIRS = 2000  # the most recent pairs of earlier runs taken, so fitting stays a fraction of a second
FORMAT_WORDS = ("answer only", "exactly one of", "reply with", "respond with", "format", "one word", "at most")
OPERATOR_NOTES = ("state the answer format", "add ", "swap the demonstrations", "limit the answer's length")
FEATURES = (
    "system prompt words", "output instruction words", "demonstrations", "{input} in the output instruction",
    "lines", "answer-format words", *(f"note: {note.strip()}" for note in OPERATOR_NOTES),
)


def features(candidate):
    """The numbers the meta-model sees of one prompt, in the order of FEATURES."""
    system, instruction = candidate.system_prompt, candidate.output_instruction
    text = f"{system}\n{instruction}".lower()
    edits = candidate.note.lower().split("; ")  # the operators strategy joins the notes of its edits so
    return [
        len(system.split()),
        len(instruction.split()),
        len(candidate.demonstrations),
        int("{input}" in instruction),
        len(system.splitlines()) + len(instruction.splitlines()),
        sum(words in text for words in FORMAT_WORDS),
        *(int(any(edit.startswith(operator) for edit in edits)) for operator in OPERATOR_NOTES),
    ]


def predict(pairs, candidates, seed):
    """The predicted score of each candidate, from (Candidate, score) pairs; None when the pairs cannot rank."""
    scores = [score for _, score in pairs]
    if len(pairs) < MIN_PAIRS or len(set(scores)) < 2 or not candidates:
        return None
    from sklearn.ensemble import RandomForestRegressor  # not at import: only screened runs pay for loading it

    forest = RandomForestRegressor(n_estimators=100, random_state=seed)
    forest.fit([features(candidate) for candidate, _ in pairs], scores)
    return [float(value) for value in forest.predict([features(candidate) for candidate in candidates])]


def shortlist(run, history, candidates, keep):
    """The `keep` candidates predicted best, in the order proposed, and their predicted scores by key.

    `history` is this run's measured pairs (the optimizer's `situation.history`); earlier runs of the same
    dataset, metric and answering model add theirs."""
    predicted = predict([*history, *earlier_pairs(run)], candidates, run.seed)
    if predicted is None:
        return candidates[:keep], {}
    best_first = sorted(range(len(candidates)), key=lambda i: -predicted[i])  # a stable sort: ties keep their order
    kept = sorted(best_first[:keep])
    return [candidates[i] for i in kept], {candidates[i].key(): predicted[i] for i in kept}


def earlier_pairs(run):
    """(prompt, validation score) pairs other runs measured with the same data, metric and answering model."""
    evaluations = (
        Evaluation.objects.filter(
            split=Split.VALIDATION,
            score__isnull=False,
            version__isnull=False,  # not the constant-answer baseline: it is no prompt
            run__dataset=run.dataset_id,
            run__metric=run.metric,
            run__primary_provider=run.primary_provider,
            run__primary_model=run.primary_model,
        )
        .exclude(run=run)
        .select_related("version", "run")
        .order_by("-pk")[:EARLIER_PAIRS]
    )
    return [
        (Candidate(e.version.system_prompt, e.version.output_instruction, tuple(e.version.demonstrations),
                   e.version.note), e.score)
        for e in reversed(evaluations)
        if e.run.metric_options == run.metric_options
    ]
