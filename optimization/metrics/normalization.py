"""How an answer is normalised before it is compared, and how a phrase is found inside an answer."""

import re
import unicodedata


def normalize(text, *, ignore_case=True, collapse_whitespace=True, strip_trailing_punctuation=True):
    if collapse_whitespace:
        text = " ".join(text.split())
    if strip_trailing_punctuation:
        end = len(text)
        while end and (_is_punctuation(text[end - 1]) or (collapse_whitespace and text[end - 1].isspace())):
            end -= 1
        text = text[:end]
    if ignore_case:
        text = text.casefold()
    return text


def mention_spans(text, phrase):
    """Where `phrase` occurs in `text` as whole words: "plausible" is not in "implausible", "3" not in "13"."""
    pattern = rf"(?<!\w){re.escape(phrase)}(?!\w)"
    return [match.span() for match in re.finditer(pattern, text)]


def named_choices(answer, choices):
    """The choices a (normalised) answer names. A choice seen only inside a longer one the answer names ("yes"
    inside "yes, but only once") is not named itself."""
    found = [(start, end, choice) for choice in choices for start, end in mention_spans(answer, choice)]
    return {
        choice
        for start, end, choice in found
        if not any(s <= start and end <= e and e - s > end - start for s, e, _ in found)
    }


def _is_punctuation(character):
    return unicodedata.category(character).startswith("P")
