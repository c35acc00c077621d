"""The accounting ledger: one LLMCall row per completion handed out, paid or served from the cache."""

from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, Sum

from ..models import LLMCall

_MILLION = Decimal(1_000_000)
_MICRODOLLAR = Decimal("0.000001")  # LLMCall.cost keeps six decimals


def cost(model, input_tokens, output_tokens, price_share=1):
    """USD from settings.LLM_PRICES (per million input and output tokens); unknown models cost 0.
    `price_share`: the share of those prices paid, e.g. 0.5 for Vertex AI's batch prediction."""
    input_price, output_price = settings.LLM_PRICES.get(model, (0, 0))
    total = Decimal(str(input_price)) * input_tokens + Decimal(str(output_price)) * output_tokens
    return (total * Decimal(str(price_share)) / _MILLION).quantize(_MICRODOLLAR)


def record(entries, *, provider, run, iteration, purpose, price_share=1):
    """Write one row per (model, Completion) in one bulk insert. Cached answers cost nothing."""
    LLMCall.objects.bulk_create(
        [
            LLMCall(
                run=run,
                iteration=iteration,
                purpose=purpose,
                provider=provider,
                model=model,
                input_tokens=completion.input_tokens,
                output_tokens=completion.output_tokens,
                latency_ms=round(completion.latency * 1000),
                cost=0 if completion.cached else cost(
                    model, completion.input_tokens, completion.output_tokens, price_share
                ),
                cached=completion.cached,
            )
            for model, completion in entries
        ]
    )


def usage_for(run, iteration=None):
    """What a run (or one of its iterations) used: paid calls, their tokens and cost, and cache hits.

    Tokens count paid calls only, like `cost`: an answer from the cache spends nothing of a budget.
    """
    calls = LLMCall.objects.filter(run=run)
    if iteration is not None:
        calls = calls.filter(iteration=iteration)
    paid = Q(cached=False)
    totals = calls.aggregate(
        llm_calls=Count("id", filter=paid),
        input_tokens=Sum("input_tokens", filter=paid, default=0),
        output_tokens=Sum("output_tokens", filter=paid, default=0),
        cost=Sum("cost", filter=paid, default=Decimal(0)),
        cache_hits=Count("id", filter=Q(cached=True)),
    )
    totals["tokens"] = totals["input_tokens"] + totals["output_tokens"]
    return totals
