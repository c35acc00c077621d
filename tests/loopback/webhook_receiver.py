"""A loopback receiver of webhooks: records every request, answers each with the next status of `answers`."""

from aiohttp import web

from .server import LoopbackServer


class WebhookReceiver(LoopbackServer):
    def __init__(self, answers=(200,)):
        super().__init__()
        self.answers = list(answers)  # the last one repeats
        self.received = []  # (headers, raw body)

    def routes(self):
        return [web.post("/hook", self.hook)]

    @property
    def hook_url(self):
        return f"{self.url}/hook"

    async def hook(self, request):
        self.received.append((request.headers.copy(), await request.read()))  # names case-insensitive
        status = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return web.Response(status=status, text="ok" if status < 300 else "receiver broke")
