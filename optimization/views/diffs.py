"""Comparing two versions of a prompt: line by line, with the words that changed within a line."""

import difflib
import re
from dataclasses import dataclass

from django.http import Http404
from django.shortcuts import render

from promptopt.pages import member_view
from promptopt.teams.access import scoped_or_404

from ..models import Prompt
from ..selectors import demonstrations_text, versions_to_compare


@dataclass
class DiffLine:
    kind: str  # same, added, removed, changed
    segments: list  # [(kind, text)], kind one of same, added, removed


def text_diff(old, new):
    """Line by line; a line changed in place shows the words that changed within it."""
    a, b = old.splitlines(), new.splitlines()
    lines = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            lines += [DiffLine("same", [("same", text)]) for text in a[i1:i2]]
        elif tag == "replace" and i2 - i1 == j2 - j1:
            lines += [DiffLine("changed", word_diff(x, y)) for x, y in zip(a[i1:i2], b[j1:j2], strict=True)]
        else:
            lines += [DiffLine("removed", [("removed", text)]) for text in a[i1:i2]]
            lines += [DiffLine("added", [("added", text)]) for text in b[j1:j2]]
    return lines


def word_diff(old, new):
    a, b = re.split(r"(\s+)", old), re.split(r"(\s+)", new)
    segments = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            segments.append(("same", "".join(a[i1:i2])))
            continue
        if i1 < i2:
            segments.append(("removed", "".join(a[i1:i2])))
        if j1 < j2:
            segments.append(("added", "".join(b[j1:j2])))
    return segments


def _number(value):
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        raise Http404("A version number is a whole number.") from None


@member_view
def version_diff(request, pk):
    prompt = scoped_or_404(Prompt.objects.select_related("team"), request.user, pk=pk)
    versions = list(prompt.versions.select_related("parent").order_by("-number"))
    old, new = versions_to_compare(prompt, old_number=_number(request.GET.get("a")),
                                   new_number=_number(request.GET.get("b")))
    parts = []
    if old is not None and new is not None:
        for label, key in (("System prompt", "system_prompt"), ("Output instruction", "output_instruction")):
            parts.append((label, text_diff(getattr(old, key), getattr(new, key))))
        parts.append(("Demonstrations", text_diff(demonstrations_text(old), demonstrations_text(new))))
    context = {"prompt": prompt, "versions": versions, "old": old, "new": new, "parts": parts}
    return render(request, "optimization/version_diff.html", context)
