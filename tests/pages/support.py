"""What the page tests import: a signed-in client, the start version's text, the run parameters and the student
model that answers a run, the pages to walk, the launch form and reading a page."""

import contextlib
import html
import re

from django.test import Client

from tests.test_loop import StudentModel

SYSTEM_TEXT = "You judge sports statements."  # the start version's text: must never reach a stranger


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@contextlib.contextmanager
def student_for(dataset, settings):
    """A loopback OpenAI-compatible model that answers right once the prompt states the answer format."""
    with StudentModel(dict(dataset.examples.values_list("input", "expected"))) as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = server.base_url, "test-key"
        settings.LLM_MAX_RETRIES = 1
        yield server


RUN_PARAMETERS = {"primary_provider": "openai", "optimizer_provider": "openai", "examples_per_split": 10, "seed": 1}


def pages(dataset, prompt, version, run):
    """Every page that shows a team's objects."""
    return [
        "/",
        "/datasets/",
        "/datasets/upload/",
        f"/datasets/{dataset.pk}/",
        "/prompts/",
        "/prompts/new/",
        f"/prompts/{prompt.pk}/",
        f"/prompts/{prompt.pk}/v{version.number}/",
        f"/prompts/{prompt.pk}/v{version.number}/new/",
        f"/prompts/{prompt.pk}/diff/",
        "/runs/",
        "/runs/new/",
        f"/runs/{run.pk}/",
        f"/runs/{run.pk}/live/",
        f"/runs/{run.pk}/results/",
    ]


def launch_form(dataset, prompt, **changes):
    form = {
        "dataset": dataset.pk, "prompt": prompt.pk, "version": "", "primary_provider": "openai", "primary_model": "",
        "optimizer_provider": "openai", "optimizer_model": "", "metric": "exact_match", "strategy": "operators",
        "target": "0.9", "patience": "3", "max_iterations": "10", "candidates_per_iteration": "4",
        "examples_per_split": "10", "max_llm_calls": "", "max_tokens": "", "max_cost": "", "temperature": "0",
        "seed": "1", "use_cache": "on",
    }
    return form | changes


def text(response):
    return response.content.decode()


def number_beside(page, input_text):
    """The number a page shows in the row of the example whose input is `input_text`."""
    line = r'(?:<td class="num muted">\d+</td>\s*)?'  # the preview shows the line in the file too
    match = re.search(rf'<td class="num">(\d+)</td>\s*{line}<td class="text">{re.escape(html.escape(input_text))}</td>',
                      page)
    assert match, f"no row for {input_text!r}"
    return int(match.group(1))
