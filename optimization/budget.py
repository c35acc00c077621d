"""A run's budget: the caps on its LLM calls, tokens and cost, and how much of it is left."""

from .llm import usage_for


def budget_left(run):
    """The share of the run's LLM-call budget, its cap or else its estimate, not spent yet."""
    budget = run.max_llm_calls or run.estimated_calls
    return max(0.0, 1 - usage_for(run)["llm_calls"] / budget) if budget else 1.0


def budget_spent(run, upcoming_calls=0):
    """Why the run must stop for its budget, or None. `upcoming_calls` is what the next step would ask for."""
    if not (run.max_llm_calls or run.max_tokens or run.max_cost):
        return None
    usage = usage_for(run)
    if run.max_llm_calls and usage["llm_calls"] + upcoming_calls > run.max_llm_calls:
        return f"Budget: {usage['llm_calls']} LLM calls made; the limit is {run.max_llm_calls}."
    if run.max_tokens and usage["tokens"] >= run.max_tokens:
        return f"Budget: {usage['tokens']} tokens used; the limit is {run.max_tokens}."
    if run.max_cost and usage["cost"] >= run.max_cost:
        return f"Budget: ${usage['cost']:.4f} spent; the limit is ${run.max_cost}."
    return None
