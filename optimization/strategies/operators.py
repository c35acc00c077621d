"""Edits that need no strong optimizer model: demonstrations, the answer format, the answer's length.

They matter most with a small model: a plain prompt leaves it answering in its own words, while the
allowed choices stated plainly and a few solved examples teach it the label's form.
"""

from . import Candidate

DESCRIPTION = "Add or swap few-shot demonstrations, state the answer format and choices, limit the length."
OPTIMIZER_CALLS = 0  # per iteration: these edits need no optimizer model
DEMONSTRATIONS_ADDED = 3  # by one add_demonstrations

FORMAT_MARK = "Reply with the answer only"
LENGTH_MARK = "Use at most"


def _with(base, note, *, system=None, instruction=None, demonstrations=None):
    return Candidate(
        system_prompt=base.system_prompt if system is None else system,
        output_instruction=base.output_instruction if instruction is None else instruction,
        demonstrations=base.demonstrations if demonstrations is None else tuple(demonstrations),
        note=note,
    )


def state_format(base, situation):
    if FORMAT_MARK in base.output_instruction:
        return None
    if situation.choices:
        rule = f"{FORMAT_MARK}: exactly one of {', '.join(situation.choices)}."
    else:
        samples = list(dict.fromkeys(expected for _, expected in situation.train))[:3]
        rule = f"{FORMAT_MARK}, written like these answers: {' | '.join(samples)}."
    return _with(base, "State the answer format", instruction=f"{base.output_instruction.rstrip()}\n{rule}")


def limit_length(base, situation):
    if LENGTH_MARK in base.output_instruction or not situation.train:
        return None
    words = max(len(expected.split()) for _, expected in situation.train)
    rule = f"{LENGTH_MARK} {words} word{'s' if words > 1 else ''}."
    return _with(base, "Limit the answer's length", instruction=f"{base.output_instruction.rstrip()}\n{rule}")


def _draw_demonstrations(situation, count, avoid=()):
    """A draw from the train split, one label after another when the task has choices, so none dominates."""
    pool = [pair for pair in situation.train if pair[0] not in avoid] or list(situation.train)
    situation.rng.shuffle(pool)
    if situation.choices:
        by_label = {}
        for pair in pool:
            by_label.setdefault(pair[1], []).append(pair)
        labels = sorted(by_label, key=lambda label: situation.rng.random())
        pool = [by_label[label][i] for i in range(len(pool)) for label in labels if i < len(by_label[label])]
    return [{"input": text, "output": expected} for text, expected in pool[:count]]


def add_demonstrations(base, situation, count=DEMONSTRATIONS_ADDED):
    existing = {demo["input"] for demo in base.demonstrations}
    added = _draw_demonstrations(situation, count, existing)
    return _with(base, f"Add {len(added)} demonstrations", demonstrations=[*base.demonstrations, *added])


def swap_demonstrations(base, situation):
    if not base.demonstrations:
        return None
    existing = {demo["input"] for demo in base.demonstrations}
    fresh = _draw_demonstrations(situation, len(base.demonstrations), existing)
    return _with(base, "Swap the demonstrations for others", demonstrations=fresh)


def state_format_and_add_demonstrations(base, situation):
    """Both edits in one candidate (the fixed order's first plan), or None when the format is stated already."""
    stated = state_format(base, situation)
    return None if stated is None else _chain(stated, situation, add_demonstrations)


def _chain(base, situation, *operators):
    candidate, notes = base, []
    for operator in operators:
        changed = operator(candidate, situation)
        if changed is not None:
            candidate, notes = changed, [*notes, changed.note]
    if candidate is base:
        return None
    return Candidate(candidate.system_prompt, candidate.output_instruction, candidate.demonstrations, "; ".join(notes))


def propose(situation):
    """Up to k new candidates from the current best, most promising edits first."""
    base = situation.current
    plans = [
        (state_format, add_demonstrations),
        (state_format,),
        (add_demonstrations,),
        (swap_demonstrations,),
        (state_format, limit_length),
        (swap_demonstrations,),
        (add_demonstrations,),
        (limit_length,),
    ]
    seen = {candidate.key() for candidate, _ in situation.history} | {base.key()}
    proposals = []
    for plan in plans:
        candidate = _chain(base, situation, *plan)
        if candidate is not None and candidate.key() not in seen:
            seen.add(candidate.key())
            proposals.append(candidate)
        if len(proposals) == situation.k:
            break
    return proposals
