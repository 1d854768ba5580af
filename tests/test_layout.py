"""The README's two layout tables match the tree: the run directory's listing is
``run_paths.LAYOUT`` and holds every file of a real run; the folder table names every
package folder of pyproject.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from adderflow.run_paths import LAYOUT

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _run_listing() -> list[tuple[str, str]]:
    block = README.split("runs/<timestamp>/", 1)[1].split("```", 1)[0].splitlines()[1:]
    return [tuple((line.split(maxsplit=1) + [""])[:2]) for line in block]


def test_the_readme_lists_the_run_directory_as_run_paths_defines_it(readme_run):
    assert _run_listing() == list(LAYOUT)
    top = {path.split("/")[0] for path, _ in LAYOUT}
    made = {p.name for p in readme_run.resolve().iterdir()}
    assert made <= top, made - top  # every file of the README's run is listed


def test_the_folder_table_names_every_package_folder():
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml")
    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    top = {folder.split("/")[0] for folder in dirs["package-dir"].values()}
    table = README.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip().strip("`").rstrip("/") for line in table.splitlines()
            if line.startswith("| `")}  # fmt: skip
    assert rows == top
