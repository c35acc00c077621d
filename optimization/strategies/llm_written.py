"""What the strategies that ask the optimizer model share: showing it data safely, and reading its prompts."""

import json
import re

from optimization.prompting import prompt_file

from . import Candidate, OptimizerError

PROMPTS_SCHEMA = {
    "type": "object",
    "properties": {
        "prompts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"system_prompt": {"type": "string"}, "output_instruction": {"type": "string"}},
                "required": ["system_prompt", "output_instruction"],
            },
        }
    },
    "required": ["prompts"],
}


def data(text):
    """Dataset text, fenced so that the optimizer reads it as material, not as instructions."""
    return "<data>\n" + str(text).replace("</data", "<\\/data").replace("<data>", "<\\data>") + "\n</data>"


def show_prompt(candidate):
    return f"System prompt:\n{data(candidate.system_prompt)}\nOutput instruction:\n{data(candidate.output_instruction)}"


def show_failures(failures):
    if not failures:
        return "(none: every example was answered right)"
    return "\n\n".join(
        f"Input:\n{data(f.input)}\nModel's answer:\n{data(f.output)}\nExpected answer:\n{data(f.expected)}"
        for f in failures
    )


def fill(template_name, **values):
    """The template with each {name} replaced in one pass, so text put in is never substituted again;
    other braces (JSON shapes, {input}) stay as they are."""
    return re.sub(
        r"\{(\w+)\}", lambda m: str(values[m[1]]) if m[1] in values else m[0], prompt_file(template_name)
    )


def conversation(template_name, **values):
    return [
        {"role": "system", "content": prompt_file("optimizer_system.txt")},
        {"role": "user", "content": fill(template_name, **values)},
    ]


def read_prompts(answer, base, note, k):
    """The candidates in the optimizer's JSON answer; the current demonstrations carry over."""
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", answer.strip())
    try:
        items = json.loads(text)["prompts"]
        candidates = [
            Candidate(str(item["system_prompt"]).strip(), str(item["output_instruction"]).strip(),
                      base.demonstrations, note)
            for item in items
            if str(item.get("system_prompt", "")).strip() or str(item.get("output_instruction", "")).strip()
        ]
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        raise OptimizerError(f"The optimizer's answer is not the JSON asked for: {answer[:300]!r}") from None
    if not candidates:
        raise OptimizerError(f"The optimizer's answer holds no usable prompt: {answer[:300]!r}")
    return candidates[:k]
