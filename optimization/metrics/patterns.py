"""Regular expressions written by people (the `regex` metric's pattern, or an expected answer read as one), run
with a time limit per match.

Python's `re` cannot stop a match: a pattern such as `(a|aa)+$` takes exponential time on an answer that almost
matches, and holds a worker for hours. The `regex` package takes a timeout. A match that runs out of time counts
as no match: such patterns blow up on text that does not match (a match is found on the first way that works; it
is ruling out every way that takes exponential time), so 0 is almost always the true score, and failing the whole
run would throw away every answer it has paid for because of one. Each time-out is logged with its pattern.
"""

import logging

import regex

logger = logging.getLogger("promptopt.metrics")

MATCH_SECONDS = 1.0  # per answer and pattern: ordinary patterns take microseconds


def compile_pattern(pattern, *, ignore_case, what):
    try:
        return regex.compile(pattern, regex.IGNORECASE if ignore_case else 0)
    except regex.error as error:
        raise ValueError(f"{what} {pattern!r} is not a valid regular expression: {error}.") from None


def matches(compiled, text, *, whole=False):
    """Whether `compiled` matches `text` (anywhere, or `whole`); False if it takes more than MATCH_SECONDS."""
    try:
        match = compiled.fullmatch(text, timeout=MATCH_SECONDS) if whole else compiled.search(
            text, timeout=MATCH_SECONDS)
    except TimeoutError:
        logger.warning("The pattern %r took more than %s s on an answer of %d characters; scored as no match.",
                       compiled.pattern[:200], MATCH_SECONDS, len(text))
        return False
    return match is not None
