"""Shared helpers of the pytest suites: the `reprise` binary the tests drive (REPRISE_BIN, default the debug
build) and a small pipeline over embedded KJV books that it runs."""
import os
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("REPRISE_BIN", os.path.join(ROOT, ".build", "debug", "reprise"))


def run_pipeline(work, books, stages):
    """Copies `books` from Corpora/raw/text/kjv into work/in, runs a pipeline with work_dir `w` and the given
    stages (YAML text, indented under `stages:`), and returns work/w."""
    os.makedirs(work / "in")
    for book in books:
        shutil.copy(os.path.join(ROOT, "Corpora/raw/text/kjv", book), work / "in")
    (work / "p.yaml").write_text("work_dir: w\nstages:\n  ingest:\n    inputs: [in]\n" + stages)
    subprocess.run([BIN, "run", "p.yaml", "--quiet"], cwd=work, check=True, capture_output=True)
    return work / "w"
