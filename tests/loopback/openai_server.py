"""A server speaking OpenAI's chat completions API on loopback. It answers by echoing the last user
message, and can be told to fail: 429 with Retry-After, 500, answers slower than the client's timeout.

    python -m tests.loopback.openai_server --latency 0.2   # prints "port N", serves until stdin closes
"""

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter

from aiohttp import web

from .server import LoopbackServer

ERRORS = {
    400: "Invalid value for 'temperature': must be between 0 and 2.",
    401: "Incorrect API key provided.",
    404: "The model does not exist or you do not have access to it.",
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request.",
}


class OpenAIServer(LoopbackServer):
    """Each answer is decided in turn by: `script` (a list of outcomes served first, then dropped), then
    `always`, then `failure_rate`. An outcome is "ok", "slow" or an HTTP status from ERRORS. Random
    failures never hit one prompt more than `max_failures_in_a_row` times running, so retries can win."""

    def __init__(
        self,
        *,
        latency=0.0,
        failure_rate=0.0,
        failures=(429, 500, "slow"),
        max_failures_in_a_row=3,
        retry_after="0",
        slow_seconds=1.0,
        always=None,
        seed=0,
    ):
        super().__init__()
        self.latency = latency
        self.failure_rate = failure_rate
        self.failures = failures
        self.max_failures_in_a_row = max_failures_in_a_row
        self.retry_after = retry_after
        self.slow_seconds = slow_seconds
        self.always = always
        self.script = []
        self.requests = []  # the JSON bodies received, in order
        self.outcomes = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._random = random.Random(seed)
        self._failures_in_a_row = Counter()

    @property
    def base_url(self):
        return f"{self.url}/v1"

    def routes(self):
        return [web.post("/v1/chat/completions", self.chat_completions)]

    async def chat_completions(self, request):
        body = await request.json()
        self.requests.append(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            outcome = self._outcome(body)
            self.outcomes[outcome] += 1
            if outcome == "slow":
                await asyncio.sleep(self.slow_seconds)
            elif outcome != "ok":
                return _error(outcome, self.retry_after)
            if self.latency:
                await asyncio.sleep(self.latency)
            return web.json_response(completion(body))
        finally:
            self.in_flight -= 1

    def _outcome(self, body):
        if self.script:
            return self.script.pop(0)
        if self.always is not None:
            return self.always
        prompt = json.dumps(body["messages"])
        fails = self._random.random() < self.failure_rate
        if fails and self._failures_in_a_row[prompt] < self.max_failures_in_a_row:
            self._failures_in_a_row[prompt] += 1
            return self._random.choice(self.failures)
        self._failures_in_a_row[prompt] = 0
        return "ok"


def completion(body):
    """The answer: "echo: <last user message>", or {"echo": ...} as JSON when a schema is asked for."""
    last = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
    words = f"echo: {last}".split()
    limit = body.get("max_completion_tokens") or body.get("max_tokens") or len(words)
    finish_reason = "length" if len(words) > limit else "stop"
    text = " ".join(words[:limit])
    if "response_format" in body:
        text = json.dumps({"echo": last})
    prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
    output_tokens = len(text.split())
    return {
        "id": f"chatcmpl-loopback-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": prompt_tokens + output_tokens,
        },
    }


def _error(status, retry_after):
    headers = {"Retry-After": retry_after} if status == 429 else {}
    error = {"message": ERRORS[status], "type": "loopback_error", "param": None, "code": str(status)}
    return web.json_response({"error": error}, status=status, headers=headers)


def main():
    """Serve in this process until stdin closes: benchmarks run it apart, so its CPU is not theirs."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.0)
    options = parser.parse_args()

    async def serve():
        server = OpenAIServer(latency=options.latency)
        await server.listen()
        print(f"port {server.port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await server.close()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
