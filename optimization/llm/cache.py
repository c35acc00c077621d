"""The response cache: completions kept in the database and shared by every run and user.

A batch is looked up in one query and stored with bulk writes, so a cached call costs next to nothing.
"""

import hashlib
import json
from collections import Counter, defaultdict

from django.db.models import F

from ..models import CachedResponse
from .interface import Completion


def key(provider, model, request):
    """sha256 of everything that shapes the answer. The sample index counts only when sampling."""
    shape = {
        "provider": provider,
        "model": model,
        "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages],
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "schema": request.schema,
    }
    if request.temperature > 0:
        shape["sample"] = request.sample
    text = json.dumps(shape, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# One query per batch, up to this many distinct keys (SQLite takes at most 32,766 parameters).
LOOKUP_CHUNK = 10_000


def lookup(keys):
    """{key: Completion} for the keys that are stored."""
    distinct = list(dict.fromkeys(keys))
    found = {}
    for start in range(0, len(distinct), LOOKUP_CHUNK):
        rows = CachedResponse.objects.filter(key__in=distinct[start : start + LOOKUP_CHUNK]).values_list(
            "key", "text", "input_tokens", "output_tokens", "finish_reason"
        )
        for key, text, input_tokens, output_tokens, finish_reason in rows:
            found[key] = Completion(text, input_tokens, output_tokens, 0.0, finish_reason, cached=True)
    return found


def count_hits(keys):
    """One more hit each time a key was served: one UPDATE per distinct count, usually one in all."""
    keys_by_count = defaultdict(list)
    for key, count in Counter(keys).items():
        keys_by_count[count].append(key)
    for count, same in keys_by_count.items():
        CachedResponse.objects.filter(key__in=same).update(hits=F("hits") + count)


def store(provider, answers):
    """Keep fresh completions, {key: (model, Completion)}; a key stored before gets the newer answer."""
    CachedResponse.objects.bulk_create(
        [
            CachedResponse(
                key=key,
                provider=provider,
                model=model,
                text=completion.text,
                input_tokens=completion.input_tokens,
                output_tokens=completion.output_tokens,
                finish_reason=completion.finish_reason[:30],
            )
            for key, (model, completion) in answers.items()
        ],
        update_conflicts=True,
        unique_fields=["key"],
        update_fields=["text", "input_tokens", "output_tokens", "finish_reason"],
    )
