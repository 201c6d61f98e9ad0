"""Where everything of a run lives: one object for every path of the result store and the training runs.

``results/<study>/<student>.json`` (a student's dev result, with its training card), ``results/<study>/test/seeds/
<student>-<readout>.json`` (one test read), ``results/<study>/test/<system>-<readout>.json`` (a seed mean with its
tests against KD), ``results/<dataset>/`` (baselines and the first comparison), ``results/manifest.json`` (the
build), and ``runs/<study>/<student>/`` (checkpoints and the saved student; never committed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """The folders and files under ``root``."""

    root: Path

    def __init__(self, root: str | Path = "."):
        object.__setattr__(self, "root", Path(root))

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def manifest(self) -> Path:
        return self.results / "manifest.json"

    def study(self, key: str) -> Path:
        """A study's (or a dataset's, or a closed-form space's) results folder."""
        return self.results / key

    def dev_result(self, key: str, student: str) -> Path:
        return self.study(key) / f"{student}.json"

    def tested(self, key: str) -> Path:
        """The folder of a study's seed means and floors/ceilings on test."""
        return self.study(key) / "test"

    def test_reads(self, key: str) -> Path:
        """The folder of a study's per-student test reads."""
        return self.tested(key) / "seeds"

    def test_read(self, key: str, student: str, readout: str) -> Path:
        """One student's read of the test split with one readout."""
        return self.test_reads(key) / f"{student}-{readout}.json"

    def seed_mean(self, key: str, system: str, readout: str) -> Path:
        return self.tested(key) / f"{system}-{readout}.json"

    def runs(self, key: str) -> Path:
        return self.root / "runs" / key

    def run(self, key: str, student: str) -> Path:
        """A student's training folder: checkpoints, log and the saved student."""
        return self.runs(key) / student
