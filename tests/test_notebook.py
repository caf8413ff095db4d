"""The walkthrough notebook runs from top to bottom (so it cannot rot)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "walkthrough.ipynb"

pytestmark = pytest.mark.slow


def test_walkthrough_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # The kernel inherits the environment: short solves, approximate travel times.
    monkeypatch.setenv("VANPLAN_NOTEBOOK_TIME_LIMIT", "2")
    monkeypatch.delenv("VANPLAN_NOTEBOOK_OSM", raising=False)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "\n".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "checker: ok" in text
    assert "APPROXIMATE" in text or "road network:" in text
    # The shared Heidelberg extract (the suite requires it) is loaded and gives a road matrix.
    assert "Heidelberg road network:" in text
    assert "Neckargemünd" in text
    # The map cell produced the folium page; the comparison table has both scenarios.
    assert any("leaflet" in o.get("data", {}).get("text/html", "").lower() for o in outputs)
    assert "2 vans" in text and "3 vans" in text
