"""Runs named scenarios and prints one JSON report: ``{name: outcome}`` or
``{name: {"error": "Type: message"}}``. Used by the scripts in this folder, which run in
their own virtualenv; the pytest side (tests/clients/test_openai2.py) judges the outcomes."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

BASE_URL = os.environ["OPENAI_BASE_URL"]
API_KEY = os.environ["OPENAI_API_KEY"]
MODEL = os.environ["HEARTH_MODEL"]


def run(scenarios: dict[str, Callable[[], Any]]) -> None:
    only = set(sys.argv[1:])
    report: dict[str, Any] = {}
    for name, scenario in scenarios.items():
        if only and name not in only:
            continue
        try:
            report[name] = scenario()
        except Exception as exc:  # the report says what the client raised
            report[name] = {
                "error": f"{type(exc).__name__}: {exc}"[:2000],
                "traceback": traceback.format_exc()[-3000:],
            }
    print(json.dumps(report))
