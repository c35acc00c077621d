"""How fast the production-prompt endpoint serves, against a bare Django view on the same server.

gunicorn (two sync workers, as in the Dockerfile) serves a throwaway SQLite database with a promoted prompt, on
127.0.0.1 and a port the OS picks. The bare view returns a constant JSON document of the same size through the
same middleware. The production endpoint authenticates the token and resolves the caller's team and the
production version in one query, counts the request against the token's rate limit and sends the document from
the cache (the file cache of the default settings, read once per process). An aiohttp client keeps 32 requests in
flight; short rounds alternate between the two, so that whatever else runs on the machine slows both alike, and
the ratio is the median of the rounds' ratios.

Each worker keeps its SQLite connection, as the settings do by default. To see a connection opened and closed
per request instead (`conn_max_age=0`), pass --new-connection-per-request: opening one (WAL and the pragmas)
costs more than everything else the endpoint does.

With --subject, a canary of another version runs on half the subjects, and every request names a subject the
canary serves (`?subject=...`): what applications send during a canary rollout.

    python -m benchmarks.serving [--new-connection-per-request] [--subject]
"""

import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from .scratch import setup_django

CONCURRENCY = 32
REQUESTS = 600  # per endpoint and round
ROUNDS = 12
WARM_UP = 200
WORKERS = 2
PROMPT = "support triage"
SYSTEM_PROMPT = "You triage support tickets. Name the team that should handle the ticket."
OUTPUT_INSTRUCTION = "{input}\n\nAnswer with exactly one of: billing, shipping, accounts, other."
DEMONSTRATIONS = [{"input": "I was charged twice.", "output": "billing"},
                  {"input": "My parcel never arrived.", "output": "shipping"}]
# The bare view's constant body: a document of the production endpoint's shape and size, so that both move the
# same bytes and the ratio is what authentication, the lookup and DRF add.
BARE_BODY = json.dumps({
    "prompt": PROMPT, "prompt_id": 1, "team": 1, "version": 2, "version_id": 2, "system_prompt": SYSTEM_PROMPT,
    "output_instruction": OUTPUT_INSTRUCTION, "demonstrations": DEMONSTRATIONS,
    "created_at": "2026-01-01T00:00:00.000000Z", "promoted_at": "2026-01-01T00:00:00.000000Z",
}, separators=(",", ":")).encode()
MODULE = "benchmarks.serving"  # not __name__, which is __main__ under `python -m`
# One SQLite connection per worker, kept, as the settings' default; or one opened and closed per request.
PERSISTENT = "--new-connection-per-request" not in sys.argv
SUBJECT = "--subject" in sys.argv  # requests with a subject, during a canary


# ---------------------------------------------------------------------------------------------------------
# What gunicorn's workers run: `benchmarks.serving:application()`, with this module as the URLconf


def bare(request):
    from django.http import HttpResponse

    return HttpResponse(BARE_BODY, content_type="application/json")


def __getattr__(name):
    # The URLconf's patterns, built when Django asks for them (this module is imported before Django is set up).
    if name == "urlpatterns":
        from django.urls import include, path

        return [path("bare/", bare), path("", include("promptopt.api_urls"))]
    raise AttributeError(name)


def application():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptopt.settings")
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()
    settings.ROOT_URLCONF = MODULE
    return app


# ---------------------------------------------------------------------------------------------------------
# The benchmark


def promoted_prompt():
    """A team, two people, a prompt with a second version promoted through the review workflow; a serve token."""
    from django.contrib.auth import get_user_model

    from optimization.models import PromptVersion
    from optimization.reviews import review_approve, review_request, version_promote
    from optimization.services import prompt_create
    from promptopt.teams.models import ApiToken, Membership, Role, Team

    team = Team.objects.create(name="Bench team")
    people = []
    for name, role in (("writer", Role.EDITOR), ("reviewer", Role.APPROVER)):
        user = get_user_model().objects.create_user(username=name, password="bench-only")
        Membership.objects.create(team=team, user=user, role=role)
        people.append(user)
    writer, reviewer = people
    prompt = prompt_create(team=team, name=PROMPT, created_by=writer)
    version = PromptVersion.objects.create(
        prompt=prompt, parent=prompt.versions.get(), created_by=writer,
        system_prompt=SYSTEM_PROMPT, output_instruction=OUTPUT_INSTRUCTION, demonstrations=DEMONSTRATIONS,
    )
    review_request(version=version, by=writer)
    review_approve(version=version, by=reviewer)
    version_promote(version=version, by=reviewer)
    _, key = ApiToken.issue(user=writer, name="bench", scope=ApiToken.Scope.SERVE)  # what an application holds
    if not SUBJECT:
        return version.number, key, ""
    from optimization.rollouts.models import in_canary
    from optimization.rollouts.services import canary_start

    tried = PromptVersion.objects.create(prompt=prompt, parent=version, created_by=writer, system_prompt=SYSTEM_PROMPT
                                         + " Be brief.", output_instruction=OUTPUT_INSTRUCTION,
                                         demonstrations=DEMONSTRATIONS)
    review_request(version=tried, by=writer)
    review_approve(version=tried, by=reviewer)
    canary = canary_start(version=tried, share=50, by=reviewer)
    subject = next(f"user-{n}" for n in range(1000) if in_canary(canary.salt, f"user-{n}", canary.share))
    return tried.number, key, f"?subject={subject}"


def relay_errors(log):
    """Keep reading gunicorn's log, so that a full pipe never blocks it; pass on all but its INFO lines."""
    for line in log:
        if "[INFO]" not in line:
            sys.stderr.write(line)


def start_gunicorn():
    env = os.environ | {
        "API_TOKEN_RATE": "100000000/min",  # counted, never reached
        "DEBUG": "false",
        "PYTHONWARNINGS": "ignore",
        "DATABASE_URL": os.environ["DATABASE_URL"] + ("" if PERSISTENT else "?conn_max_age=0"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", f"{MODULE}:application()", "--bind", "127.0.0.1:0",
         "--workers", str(WORKERS), "--log-level", "info"],
        cwd=Path(__file__).resolve().parent.parent, env=env, stderr=subprocess.PIPE, text=True,
    )
    for line in server.stderr:
        found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", line)
        if found:
            threading.Thread(target=relay_errors, args=(server.stderr,), daemon=True).start()
            return server, f"http://127.0.0.1:{found.group(1)}"
    raise RuntimeError("gunicorn did not start")


async def load(url, headers, count, check):
    """`count` requests with CONCURRENCY in flight; the latency of each, and the wall time of all."""
    import aiohttp

    latencies, remaining = [], [count]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:

        async def one_connection():
            while remaining[0] > 0:
                remaining[0] -= 1
                started = time.perf_counter()
                async with session.get(url, headers=headers) as response:
                    body = await response.read()
                latencies.append(time.perf_counter() - started)
                if response.status != 200 or not check(body):
                    raise RuntimeError(f"{url}: {response.status} {body[:200]!r}")

        started = time.perf_counter()
        await asyncio.gather(*(one_connection() for _ in range(CONCURRENCY)))
        return latencies, time.perf_counter() - started


def wait_until_served(url, headers):
    import urllib.request

    deadline = time.monotonic() + 60
    while True:
        try:
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def main():
    setup_django()
    from urllib.parse import quote

    number, key, query = promoted_prompt()
    server, base = start_gunicorn()
    connections = "one SQLite connection per worker" if PERSISTENT else "a new SQLite connection per request"
    if query:
        print(f"requests with a subject the canary serves ({query}): v{number}", flush=True)
    print(f"gunicorn: {WORKERS} sync workers, {connections}; {CONCURRENCY} requests in flight, "
          f"{ROUNDS} alternating rounds of {REQUESTS} requests each", flush=True)
    try:
        auth = {"Authorization": f"Bearer {key}"}
        production_url = f"{base}/api/v1/prompts/{quote(PROMPT)}/production/{query}"
        wait_until_served(production_url, auth)
        targets = {
            "bare view": (f"{base}/bare/", {}, lambda body: body == BARE_BODY),
            "production prompt": (production_url, auth, lambda body: f'"version":{number},'.encode() in body),
        }
        for url, headers, check in targets.values():
            asyncio.run(load(url, headers, WARM_UP, check))
        results = {name: ([], []) for name in targets}  # all latencies; the rate of each round
        for round_number in range(ROUNDS):
            names = list(targets) if round_number % 2 == 0 else list(reversed(targets))
            for name in names:
                latencies, wall = asyncio.run(load(*targets[name][:2], REQUESTS, targets[name][2]))
                results[name][0].extend(latencies)
                results[name][1].append(REQUESTS / wall)
        for name, (latencies, rates) in results.items():
            cuts = statistics.quantiles(latencies, n=100)
            print(f"{name}: {len(latencies)} requests, {statistics.median(rates):.0f} req/s (median of rounds), "
                  f"p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms", flush=True)
    finally:
        server.terminate()
        server.wait(15)
    # Each round's pair was measured back to back; the median pair is robust to another job's burst on the machine.
    ratios = [production / bare for production, bare in zip(results["production prompt"][1], results["bare view"][1])]
    print(f"round ratios: {min(ratios):.2f} to {max(ratios):.2f}")
    print(f"serving ratio: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
