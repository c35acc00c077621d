"""Critique and rewrite (ProTeGi's textual gradients, GEPA's reflection): explain the failures, then fix them."""

from .llm_written import PROMPTS_SCHEMA, conversation, read_prompts, show_failures, show_prompt

DESCRIPTION = "ProTeGi/GEPA-style: the optimizer model explains the failures, then rewrites the prompt."
OPTIMIZER_CALLS = 2  # per iteration: the critique, then the rewrite


def propose(situation):
    shown = show_prompt(situation.current)
    critique = situation.ask(
        conversation("critique_explain.txt", prompt=shown, failures=show_failures(situation.failures))
    )
    answer = situation.ask(
        conversation("critique_rewrite.txt", prompt=shown, critique=critique, k=situation.k),
        json_schema=PROMPTS_SCHEMA,
    )
    note = "Rewritten against the optimizer's critique: " + " ".join(critique.split())[:300]
    return read_prompts(answer, situation.current, note, situation.k)
