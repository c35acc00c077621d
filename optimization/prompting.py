"""How a prompt version and an example become the messages sent to the model."""

from pathlib import Path

from django.conf import settings

INPUT_PLACEHOLDER = "{input}"
PROMPTS_DIR = Path(settings.BASE_DIR) / "prompts"


def prompt_file(name):
    return (PROMPTS_DIR / name).read_text(encoding="utf-8")


def user_message(output_instruction, example_input):
    """The output instruction with the example's input in place of {input} (or first, when it has none).

    A plain replace, not str.format: inputs and instructions may hold braces of their own."""
    if INPUT_PLACEHOLDER in output_instruction:
        return output_instruction.replace(INPUT_PLACEHOLDER, example_input)
    return f"{example_input}\n\n{output_instruction}".strip()


def messages_for(version, example_input):
    """System prompt, then each demonstration as an earlier turn, then the example."""
    messages = [{"role": "system", "content": version.system_prompt}] if version.system_prompt.strip() else []
    for demo in version.demonstrations:
        messages.append({"role": "user", "content": user_message(version.output_instruction, demo["input"])})
        messages.append({"role": "assistant", "content": demo["output"]})
    messages.append({"role": "user", "content": user_message(version.output_instruction, example_input)})
    return messages


def answer_token_budget(expected_answers):
    """Room for the longest expected answer and a little more: a label needs a few tokens, a sentence dozens.

    Roughly four characters a token; the margin lets a model that adds a word or two still finish."""
    longest = max((len(answer) for answer in expected_answers), default=0)
    return max(16, min(256, longest // 3 + 16))
