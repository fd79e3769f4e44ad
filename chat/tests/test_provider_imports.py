"""The anthropic SDK (~40 MiB) loads only when an Anthropic model is used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import chat.providers.select as select
from chat.providers.base import ModelConfig
before = "anthropic" in sys.modules
select.prepare(ModelConfig(provider="openai", model_id="gpt-x", api_key="k"))
after_openai = "anthropic" in sys.modules
select.prepare(ModelConfig(provider="claude", model_id="claude-x", api_key="k"))
print(before, after_openai, "anthropic" in sys.modules)
"""


def test_anthropic_sdk_is_imported_on_first_use():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "True"]
