"""pytest fixtures for the LLM tests; a test module imports the ones it uses."""

import os

import pytest

from datasets.models import Dataset
from optimization.models import Prompt, PromptVersion, Run

from .openai_server import OpenAIServer
from .vertex_server import VertexServer


@pytest.fixture
def fast_retries(settings):
    """Retries as in production, with backoff in hundredths of a second."""
    settings.LLM_MAX_RETRIES = 5
    settings.LLM_RETRY_INITIAL_DELAY = 0.01
    settings.LLM_RETRY_MAX_DELAY = 0.05
    settings.LLM_TIMEOUT = 5.0
    settings.LLM_REQUESTS_PER_MINUTE = 0
    settings.LLM_TOKENS_PER_MINUTE = 0


@pytest.fixture
def openai_server(settings, fast_retries):
    with OpenAIServer() as server:
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_API_KEY = "test-key"
        settings.OPENAI_MODEL = "gpt-4o-mini"
        settings.OPENAI_CONCURRENCY = 8
        yield server


@pytest.fixture
def vertex_server(settings, fast_retries, monkeypatch):
    with VertexServer() as server:
        use_vertex_server(server, settings, monkeypatch)
        yield server


def use_vertex_server(server, settings, monkeypatch):
    """Point the vertex provider at `server`, as project test-project in us-central1."""
    # The SDK reads GOOGLE_* variables (API key, project, base URL): none of the machine's may leak in.
    for name in [name for name in os.environ if name.startswith("GOOGLE_")]:
        monkeypatch.delenv(name)
    settings.VERTEX_BASE_URL = server.url
    settings.VERTEX_ACCESS_TOKEN = "test"
    settings.VERTEX_PROJECT = "test-project"
    settings.VERTEX_LOCATION = "us-central1"
    settings.VERTEX_MODEL = "gemini-2.5-flash"
    settings.VERTEX_CONCURRENCY = 4


@pytest.fixture
def run(team):
    dataset = Dataset.objects.create(team=team, name="Questions", source_format=Dataset.Format.JSONL)
    prompt = Prompt.objects.create(team=team, name="Answerer")
    version = PromptVersion.objects.create(prompt=prompt, system_prompt="Answer briefly.")
    return Run.objects.create(team=team, dataset=dataset, start_version=version, primary_provider="openai")
