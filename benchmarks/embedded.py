"""Generated tokens per second of the embedded model through the whole LLM layer (cache bypassed, every
call accounted) against llama-cpp-python called directly on the same prompts with the same settings.

The direct calls run in a child process: libgomp keeps one team of threads per OS thread that starts
llama.cpp work, and two teams on two cores stop spinning and run at a third of the speed, so the two
ways must not share a process. Rounds alternate between them, so a busy machine slows both alike.

    python -m benchmarks.embedded
"""

import json
import subprocess
import sys
import time
from pathlib import Path

from .scratch import setup_django

PROMPTS = [
    "Explain in three sentences why the sky is blue.",
    "Write a short poem about a lighthouse.",
    "List five fruits and say one thing about each.",
    "What is the difference between a virus and a bacterium?",
    "Give me three tips for writing clear emails.",
    "Describe how a bicycle works.",
]
MAX_TOKENS = 64
ROUNDS = 3
MESSAGES = [[{"role": "user", "content": prompt}] for prompt in PROMPTS]


def direct_round():
    """In the child: llama-cpp-python with the provider's settings, one warm-up pass and one timed."""
    from django.conf import settings

    from optimization.llm.providers import embedded

    # The provider's own loader: same threads and context, and llama.cpp kept off AMX (it faults here).
    model = embedded.load(settings.LLM_EMBEDDED_THREADS, settings.LLM_EMBEDDED_CONTEXT)

    def one_pass():
        answers = [
            model.create_chat_completion(messages=m, temperature=0.0, max_tokens=MAX_TOKENS) for m in MESSAGES
        ]
        return sum(answer["usage"]["completion_tokens"] for answer in answers)

    one_pass()
    started = time.perf_counter()
    tokens = one_pass()
    print(json.dumps([tokens, time.perf_counter() - started]))


def layer_pass():
    from optimization.llm import Request, complete_batch

    requests = [Request(m, max_tokens=MAX_TOKENS) for m in MESSAGES]
    started = time.perf_counter()
    completions = complete_batch(requests, provider="embedded", use_cache=False, purpose="benchmark")
    return sum(c.output_tokens for c in completions), time.perf_counter() - started


def main():
    setup_django()
    if "--direct" in sys.argv:
        direct_round()
        return
    totals = {"direct": [0, 0.0], "layer": [0, 0.0]}
    layer_pass()  # warm-up: load the model, fill llama.cpp's caches
    for _ in range(ROUNDS):
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.embedded", "--direct"],
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
            text=True,
            check=True,
        )
        for way, (tokens, seconds) in (("direct", json.loads(child.stdout)), ("layer", layer_pass())):
            totals[way][0] += tokens
            totals[way][1] += seconds
    rates = {way: tokens / seconds for way, (tokens, seconds) in totals.items()}
    for way, label in (("direct", "llama-cpp-python directly"), ("layer", "through the layer")):
        tokens, seconds = totals[way]
        print(f"{label}: {tokens} tokens in {seconds:.2f} s, {rates[way]:.1f} tokens/s", flush=True)
    print(f"embedded ratio: {rates['layer'] / rates['direct']:.2f}")


if __name__ == "__main__":
    main()
