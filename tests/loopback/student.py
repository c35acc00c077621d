"""A loopback server that plays a small model with one weakness the optimizer can find."""

import asyncio

from aiohttp import web

from optimization.strategies.operators import FORMAT_MARK

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
        if "response_format" in body or body["messages"][0]["content"].startswith("You are an expert prompt"):
            text = self.optimizer_answer if self.optimizer_answer is not None else "Not JSON at all."
        else:
            user = body["messages"][-1]["content"]
            example = next((inp for inp in self.answers if inp in user), None)
            knows_format = FORMAT_MARK in user
            text = self.answers[example] if example and knows_format else "Well, it depends on the game."
        reply = completion(body)
        reply["choices"][0]["message"]["content"] = text
        return web.json_response(reply)
