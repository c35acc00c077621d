"""Loopback servers that play a small model with weaknesses the optimizer can find."""

import asyncio
import json
import zlib

from aiohttp import web

from optimization.strategies.operators import FORMAT_MARK, LENGTH_MARK

from ..support.people import BIGBENCH
from .openai_server import OpenAIServer, completion


class StudentModel(OpenAIServer):
    """Answers an example right only when the prompt names the allowed answers; otherwise rambles."""

    def __init__(self, answers, **kwargs):
        super().__init__(**kwargs)
        self.answers = answers  # example input -> expected answer
        self.optimizer_answer = None  # what to say when asked for prompts (a JSON schema is sent)

    async def chat_completions(self, request):
        body = await request.json()
        self.requests.append(body)
        if self.latency:  # a real model's time to answer: what lets several workers overlap their waiting
            await asyncio.sleep(self.latency)
        if self.always is not None:
            return web.json_response({"error": {"message": "Incorrect API key provided."}}, status=self.always)
        if is_optimizer_request(body):
            text = self.optimizer_answer if self.optimizer_answer is not None else "Not JSON at all."
        else:
            user = body["messages"][-1]["content"]
            example = next((inp for inp in self.answers if inp in user), None)
            knows_format = FORMAT_MARK in user
            text = self.answers[example] if example and knows_format else "Well, it depends on the game."
        reply = completion(body)
        reply["choices"][0]["message"]["content"] = text
        return web.json_response(reply)


def is_optimizer_request(body):
    return "response_format" in body or body["messages"][0]["content"].startswith("You are an expert prompt")


class FussyStudent(OpenAIServer):
    """Right only when the prompt states the answer format, sets no length limit and shows no demonstrations (they
    confuse it, unless `confused_by_demonstrations` is off or a set of inputs without this one), and then on three
    examples in four (by a hash of the input, and of the system prompt when `varies_with_wording`: then prompts
    worded differently know different examples); otherwise it rambles.

    Asked for prompts (as the optimizer), it answers `write_prompts(body)` when given, else prose that is no JSON."""

    def __init__(self, answers, write_prompts=None, confused_by_demonstrations=True, varies_with_wording=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.varies_with_wording = varies_with_wording
        self.answers = answers  # example input -> expected answer
        self.write_prompts = write_prompts
        self.confused_by_demonstrations = confused_by_demonstrations

    async def chat_completions(self, request):
        body = await request.json()
        self.requests.append(body)
        if is_optimizer_request(body):
            text = self.write_prompts(body) if self.write_prompts else "Not JSON at all."
        else:
            user = body["messages"][-1]["content"]
            example = next((text for text in self.answers if text in user), None)
            shown = self.confused_by(example) and any(m["role"] == "assistant" for m in body["messages"])
            knows = example and FORMAT_MARK in user and LENGTH_MARK not in user and not shown
            wording = body["messages"][0]["content"] if self.varies_with_wording else ""
            knows = knows and zlib.crc32(f"{wording}{example}".encode()) % 4
            text = self.answers[example] if knows else "Well, it depends."
        reply = completion(body)
        reply["choices"][0]["message"]["content"] = text
        return web.json_response(reply)

    def confused_by(self, example):
        confused = self.confused_by_demonstrations
        return confused if isinstance(confused, bool) else example in confused


def bigbench_answers(*tasks):
    """Each example's input and its right answer (the best-scoring choice), for BIG-bench tasks of data/bigbench/
    whose examples have target_scores."""
    answers = {}
    for task in tasks:
        examples = json.loads((BIGBENCH / f"{task}.json").read_text())["examples"]
        answers |= {e["input"]: max(e["target_scores"], key=e["target_scores"].get) for e in examples}
    return answers
