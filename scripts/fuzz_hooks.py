"""Schemathesis hooks of scripts/fuzz.py (loaded through SCHEMATHESIS_HOOKS).

The fuzzer learns ids from responses, so it finds the callers' own user and key ids and would
deactivate, delete or demote them, leaving the rest of the run to answer 401. A case aiming a
path at one of those ids (``FUZZ_PROTECTED_IDS``) is dropped; every other id, route and
operation is fuzzed, including rows the fuzzer itself creates.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

PROTECTED = frozenset(filter(None, os.environ.get("FUZZ_PROTECTED_IDS", "").split(",")))


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    return not any(str(value) in PROTECTED for value in (case.path_parameters or {}).values())
