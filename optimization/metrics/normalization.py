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


def _is_punctuation(character):
    return unicodedata.category(character).startswith("P")
