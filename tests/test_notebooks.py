"""Every notebook in notebooks/ executes top to bottom, so none can rot.

A notebook with a size setting reads it from the environment; ``SETTINGS`` runs it small here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

#: Environment for each notebook (by file stem): small settings that keep the run to seconds.
SETTINGS: dict[str, dict[str, str]] = {
    "evalset_authoring": {"SQLTUNE_NB_PAIRS": "100", "SQLTUNE_NB_PER_TIER": "2"},
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    for key, value in SETTINGS.get(path.stem, {}).items():
        monkeypatch.setenv(key, value)  # the kernel inherits the environment
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
