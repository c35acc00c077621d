"""Which version a subject gets, and how a prompt and an input become chat messages: the same as the server's
(rollouts.models.in_canary, optimization/prompting.py `messages_for`), kept in agreement by tests of the server's
suite (tests/test_client_package.py, tests/test_canary.py)."""

import hashlib

INPUT_PLACEHOLDER = "{input}"


def in_canary(salt, subject, share):
    """Whether `subject` gets the canary: the server's rule (rollouts.models.in_canary), kept in agreement by a
    test of the server's suite. The same subject always gets the same answer for one canary."""
    bucket = int(hashlib.sha256(f"{salt}:{subject}".encode()).hexdigest()[:8], 16) % 10_000
    return bucket < share * 100


def user_message(output_instruction, text):
    """The output instruction with the input in place of {input} (or the input first, when it has none).

    A plain replace, not str.format: inputs and instructions may hold braces of their own."""
    if INPUT_PLACEHOLDER in output_instruction:
        return output_instruction.replace(INPUT_PLACEHOLDER, text)
    return f"{text}\n\n{output_instruction}".strip()


def render_messages(system_prompt, output_instruction, demonstrations, text):
    """System prompt, then each demonstration as an earlier turn, then the input."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    for demo in demonstrations:
        messages.append({"role": "user", "content": user_message(output_instruction, demo["input"])})
        messages.append({"role": "assistant", "content": demo["output"]})
    messages.append({"role": "user", "content": user_message(output_instruction, text)})
    return messages
