"""An aiohttp application served on 127.0.0.1 (an ephemeral port) from a thread of its own."""

import asyncio
import threading

from aiohttp import web


class LoopbackServer:
    """Subclasses add routes in `routes()`. Use as a context manager, or start() and stop()."""

    def __init__(self):
        self.port = None
        self._loop = None
        self._thread = None
        self._runner = None
        self._error = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def routes(self):
        raise NotImplementedError

    def start(self):
        started = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(started,), daemon=True, name="loopback")
        self._thread.start()
        if not started.wait(10) or self._error:
            raise RuntimeError(f"The loopback server did not start: {self._error or 'timed out'}")
        return self

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _serve(self, started):
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.listen())
        except Exception as error:
            self._error = error
            return
        finally:
            started.set()
        self._loop.run_forever()

    async def close(self):
        await self._runner.cleanup()
        # Answers still sleeping (slower than the client's timeout) are cancelled, not left pending.
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def listen(self):
        app = web.Application()
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
