"""The one interface to language models: Request in, Completion out, LLMError when it cannot be had.

    complete_batch(requests, *, provider, model="", run=None, iteration=None, purpose="inference",
                   use_cache=True) -> list[Completion]
    complete(request, **same) -> Completion
    usage_for(run, iteration=None) -> {llm_calls, input_tokens, output_tokens, tokens, cost, cache_hits}

Providers: "embedded" (SmolLM2 in-process), "openai" (and compatible servers), "vertex" (Gemini).
"""

from .batch import complete, complete_batch
from .interface import Completion, LLMError, Request
from .ledger import usage_for

__all__ = ["Completion", "LLMError", "Request", "complete", "complete_batch", "usage_for"]
