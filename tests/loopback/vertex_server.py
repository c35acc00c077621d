"""A server speaking Vertex AI's generateContent on loopback, for the google-genai SDK.

It keeps what it received (path, headers, JSON body) and answers by echoing the last user part.
"""

import json
from collections import Counter

from aiohttp import web

from .server import LoopbackServer

ERRORS = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request is missing required authentication credential."),
    403: ("PERMISSION_DENIED", "Permission denied on resource project test-project."),
    429: ("RESOURCE_EXHAUSTED", "Resource exhausted. Please try again later."),
    500: ("INTERNAL", "Internal error encountered."),
    503: ("UNAVAILABLE", "The service is currently unavailable."),
}


class VertexServer(LoopbackServer):
    """`script` lists outcomes served first ("ok" or an HTTP status from ERRORS), then `always`."""

    def __init__(self, *, always="ok", thoughts_tokens=0):
        super().__init__()
        self.always = always
        self.thoughts_tokens = thoughts_tokens  # Gemini 2.5 reports its thinking apart from the answer
        self.script = []
        self.received = []  # (path, headers, body)
        self.outcomes = Counter()

    def routes(self):
        return [web.post("/{path:.*}", self.generate_content)]

    async def generate_content(self, request):
        body = await request.json()
        self.received.append((request.path, dict(request.headers), body))
        outcome = self.script.pop(0) if self.script else self.always
        self.outcomes[outcome] += 1
        if outcome != "ok":
            status, message = ERRORS[outcome]
            error = {"code": outcome, "message": message, "status": status}
            return web.json_response({"error": error}, status=outcome, headers={"Retry-After": "0"})
        return web.json_response(self.response_to(body, model=request.path.rsplit("/", 1)[-1].split(":")[0]))

    def text_for(self, body):
        """The answer's text: the last user part, echoed."""
        last = [c for c in body["contents"] if c["role"] == "user"][-1]["parts"][-1]["text"]
        if body.get("generationConfig", {}).get("responseMimeType") == "application/json":
            return json.dumps({"echo": last})
        return f"echo: {last}"

    def response_to(self, body, model):
        """A GenerateContentResponse to a GenerateContentRequest, as REST JSON."""
        text = self.text_for(body)
        turns = [*body["contents"], body.get("systemInstruction", {"parts": []})]
        prompt_tokens = sum(len(part["text"].split()) for turn in turns for part in turn["parts"])
        output_tokens = len(text.split())
        usage = {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": prompt_tokens + output_tokens + self.thoughts_tokens,
        }
        if self.thoughts_tokens:
            usage["thoughtsTokenCount"] = self.thoughts_tokens
        return {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": usage,
            "modelVersion": model,
        }
