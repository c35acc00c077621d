"""Running a benchmark as a person would, against a loopback OpenAI-compatible server, and reading what it prints."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SCORE = r"(\d\.\d{3})"


def run_benchmark(name, server, *arguments, timeout=300):
    """`python -m benchmarks.NAME --provider openai ARGUMENTS` against `server`, in a process of its own."""
    env = os.environ | {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test-key",
                        "OPENAI_MODEL": "gpt-4o-mini", "DJANGO_SETTINGS_MODULE": "promptopt.settings"}
    return subprocess.run([sys.executable, "-m", f"benchmarks.{name}", "--provider", "openai", *arguments],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def lines_matching(pattern, output):
    found = re.findall(pattern, output, flags=re.MULTILINE)
    assert found, f"no line matches {pattern!r} in:\n{output}"
    return found
