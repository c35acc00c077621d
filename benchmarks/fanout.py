"""2,000 requests through the whole LLM layer (cache lookup and store, accounting) to an OpenAI-compatible
server on loopback that answers after a fixed delay, at concurrency 32. Every request misses the cache.

The server runs in a process of its own, so its CPU does not compete with ours for the GIL.
The figure is wall time over the ideal, requests x latency / concurrency (12.5 s at 200 ms).

    python -m benchmarks.fanout
"""

import subprocess
import sys
import time
import uuid
from pathlib import Path

from .scratch import setup_django

REQUESTS = 2000
CONCURRENCY = 32
LATENCIES = (0.2, 0.05)


def start_server(latency):
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.loopback.openai_server", "--latency", str(latency)],
        cwd=Path(__file__).resolve().parent.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    port = int(server.stdout.readline().split()[1])
    return server, f"http://127.0.0.1:{port}/v1"


def measure(base_url, latency):
    from django.test import override_settings

    from optimization.llm import Request, complete_batch
    from optimization.models import LLMCall

    def requests(n, label):
        return [Request([{"role": "user", "content": f"{label} {i}: what is {i} plus {i}?"}]) for i in range(n)]

    with override_settings(OPENAI_BASE_URL=base_url, OPENAI_API_KEY="bench", OPENAI_CONCURRENCY=CONCURRENCY):
        complete_batch(requests(2 * CONCURRENCY, f"warm-up {uuid.uuid4()}"), provider="openai")
        batch = requests(REQUESTS, f"benchmark {uuid.uuid4()}")
        calls_before = LLMCall.objects.count()
        started = time.perf_counter()
        completions = complete_batch(batch, provider="openai", purpose="benchmark")
        wall = time.perf_counter() - started
    assert len(completions) == REQUESTS and not any(c.cached for c in completions)
    assert LLMCall.objects.count() - calls_before == REQUESTS
    ideal = REQUESTS * latency / CONCURRENCY
    print(
        f"{latency * 1000:.0f} ms server latency: {REQUESTS} requests in {wall:.2f} s, "
        f"ideal {ideal:.2f} s, ratio {wall / ideal:.2f}",
        flush=True,
    )
    return wall / ideal


def main():
    setup_django()
    ratios = {}
    for latency in LATENCIES:
        server, base_url = start_server(latency)
        try:
            ratios[latency] = measure(base_url, latency)
        finally:
            server.stdin.close()
            server.wait(10)
    print(f"fanout ratio: {ratios[0.2]:.2f}")


if __name__ == "__main__":
    main()
