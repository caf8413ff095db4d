"""Golden request/response files and the helper that replays them.

A golden file ``NAME.json`` holds ``steps``: each a ``request`` (``method``, ``path``, ``role`` -
``dispatcher``, ``crew``, ``system`` or null for no token - and an optional JSON ``body``) and the
expected ``response`` (``status`` and JSON ``body``). Volatile values (timestamps) are replaced by
placeholders before comparing. Regenerate the expected responses after an intended change with
``VANPLAN_REGENERATE_GOLDEN=1 pytest tests/api -k golden`` and review the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

GOLDEN_DIR = Path(__file__).resolve().parent
VOLATILE = frozenset({"created_at", "updated_at", "erased_at"})


def regenerating() -> bool:
    return os.environ.get("VANPLAN_REGENERATE_GOLDEN") == "1"


def scenarios() -> list[str]:
    return sorted(p.stem for p in GOLDEN_DIR.glob("*.json"))


def normalise(value: Any) -> Any:
    """Replace volatile fields (timestamps) by ``"<volatile>"`` (None stays None)."""
    if isinstance(value, dict):
        return {
            k: ("<volatile>" if k in VOLATILE and v is not None else normalise(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def replay(
    client: TestClient,
    name: str | Path,
    headers: Mapping[str, dict[str, str]],
    *,
    default_headers: dict[str, str] | None = None,
    clean: Callable[[Any], Any] = lambda body: body,
) -> list[tuple[dict[str, Any], Response]]:
    """Send every request of golden file ``name`` (a name in this folder or a path) and compare
    (or, regenerating, record) the responses; returns the requests with their responses for
    further checks. ``headers`` maps a step's ``role`` to its Authorization headers; steps
    without a role get ``default_headers`` (none: no token). ``clean`` removes what differs run
    to run (after :func:`normalise`)."""
    path = name if isinstance(name, Path) else GOLDEN_DIR / f"{name}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    sent: list[tuple[dict[str, Any], Response]] = []
    for i, step in enumerate(data["steps"]):
        request = step["request"]
        role = request.get("role")
        response = client.request(
            request["method"],
            request["path"],
            json=request.get("body"),
            headers=headers[role] if role else (default_headers or {}),
        )
        sent.append((request, response))
        body = response.json() if response.content else None
        actual = {"status": response.status_code, "body": clean(normalise(body))}
        if regenerating():
            step["response"] = actual
            continue
        expected = step.get("response")
        where = f"{path.name} step {i}: {request['method']} {request['path']}"
        assert expected is not None, f"{where}: no recorded response (regenerate)"
        assert actual == expected, (
            f"{where}\nexpected: {json.dumps(expected, ensure_ascii=False, indent=1)}\n"
            f"actual:   {json.dumps(actual, ensure_ascii=False, indent=1)}"
        )
    if regenerating():
        text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
        path.write_text(text, encoding="utf-8")
    return sent
