"""Shared helpers of the pytest suites: the `reprise` binary the tests drive (REPRISE_BIN, default the debug
build) and a small pipeline over embedded KJV books that it runs."""
import importlib
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("REPRISE_BIN", os.path.join(ROOT, ".build", "debug", "reprise"))


def require(module):
    """Imports `module`; where it is missing the test is skipped, unless REPRISE_REQUIRE_TORCH is set (as
    Tools/test sets it, having installed torch and transformers), where that is an error."""
    if os.environ.get("REPRISE_REQUIRE_TORCH"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


def run_pipeline(work, books, stages, files=None):
    """Copies `books` from Corpora/raw/text/kjv into work/in (and writes `files`, relative paths to text),
    runs a pipeline with work_dir `w` and the given stages (YAML text, indented under `stages:`), and returns
    work/w."""
    os.makedirs(work / "in")
    for book in books:
        shutil.copy(os.path.join(ROOT, "Corpora/raw/text/kjv", book), work / "in")
    for name, text in (files or {}).items():
        os.makedirs(os.path.dirname(work / name), exist_ok=True)
        (work / name).write_text(text)
    (work / "p.yaml").write_text("work_dir: w\nstages:\n  ingest:\n    inputs: [in]\n" + stages)
    subprocess.run([BIN, "run", "p.yaml", "--quiet"], cwd=work, check=True, capture_output=True)
    return work / "w"
