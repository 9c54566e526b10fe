"""Every notebook in notebooks/ executes top to bottom, so none can rot.

A notebook with a size setting reads it from the environment; ``SETTINGS`` runs it small here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

#: Environment for each notebook (by file stem): small settings that keep the run to seconds.
SETTINGS: dict[str, dict[str, str]] = {
    "evalset_authoring": {"SQLTUNE_NB_PAIRS": "100", "SQLTUNE_NB_PER_TIER": "2"},
    "quickstart": {"SQLTUNE_NB_MODEL": "{tiny}", "SQLTUNE_NB_PAIRS": "40", "SQLTUNE_NB_STEPS": "2",
                   "SQLTUNE_NB_PER_TIER": "1", "SQLTUNE_NB_SUITE": "0"},
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    settings = SETTINGS.get(path.stem, {})
    if any("{tiny}" in v for v in settings.values()):
        from tests.test_main_job import _tiny_model

        tiny = str(_tiny_model(tmp_path / "tiny"))
        settings = {k: v.replace("{tiny}", tiny) for k, v in settings.items()}
    for key, value in settings.items():
        monkeypatch.setenv(key, value)  # the kernel inherits the environment
    shared = Path(os.environ["SQLTUNE_HOME"])  # a fresh home per notebook; samples are built once
    (tmp_path / "home").mkdir()
    if (shared / "samples").is_dir():
        (tmp_path / "home" / "samples").symlink_to(shared / "samples", target_is_directory=True)
    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path / "home"))
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
