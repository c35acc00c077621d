"""OPRO's meta-prompt: scored prompts in ascending order and a sample of failures in, new prompts out."""

from .llm_written import PROMPTS_SCHEMA, conversation, read_prompts, show_failures, show_prompt

DESCRIPTION = "OPRO-style: the optimizer model sees scored prompts and failures and writes new prompts."
# Per iteration: one request, whatever the number of prompts asked for (screening asks for more in the same call).
OPTIMIZER_CALLS = 1

HISTORY_SHOWN = 8


def propose(situation):
    shown = situation.history[-HISTORY_SHOWN:]
    history = "\n\n".join(f"Prompt scoring {score:.2f}:\n{show_prompt(candidate)}" for candidate, score in shown)
    messages = conversation(
        "meta_prompt.txt", history=history, failures=show_failures(situation.failures), k=situation.k
    )
    answer = situation.ask(messages, json_schema=PROMPTS_SCHEMA)
    return read_prompts(answer, situation.current, "Written by the optimizer from scored prompts", situation.k)
