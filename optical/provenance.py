"""The provenance of a trained student: its card (config, bitext, dev history, commit, machine, wall time), its
folder (a sentence-transformers directory written atomically) and the check that a checkpoint or student on disk
came from the run about to use it."""

from __future__ import annotations

import platform
import subprocess
from dataclasses import asdict
from pathlib import Path

from optical.config import TrainConfig
from optical.data.schema import Bitext
from optical.io import atomic_folder, atomic_write_json
from optical.models import STUDENT_CARD, StudentQueryEncoder
from optical.st_folder import save_sentence_transformer


def git_commit() -> str | None:
    """The commit of this checkout (``None`` outside git)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def refuse_other_run(path: Path, saved_config: dict, saved_pairs: int, config: TrainConfig, n_pairs: int,
                     what: str) -> None:
    """Error unless ``path`` (a checkpoint or a saved student) came from ``config`` on ``n_pairs`` pairs."""
    if saved_config != asdict(config) or saved_pairs != n_pairs:
        raise ValueError(f"{path} {what} a different config or bitext; use another output dir or delete it")


def student_card(config: TrainConfig, bitext: list[Bitext], state: dict, device: str, processes: int) -> dict:
    """What a saved student's ``optical_card.json`` records, from a run's ``state`` (step, dev history, best)."""
    return {"teacher": config.teacher, "student_init": config.student or config.teacher, "loss": config.loss,
            "config": asdict(config), "languages": [b.language for b in bitext],
            "pairs": {b.language: len(b) for b in bitext}, "bitext_counts": {b.language: b.counts for b in bitext},
            "steps": state["step"], "dev_history": state["dev_history"], "best_dev_macro_mrr10": state["best_dev"],
            "grad_norms_step0": state.get("grad_norms_step0"), "git_commit": git_commit(),
            "machine": platform.platform(), "device": device, "processes": processes, "wall_s": state["wall_s"],
            # wall_s counts every attempt of a resumed run; this attempt alone, from the step it resumed at
            "attempt_wall_s": state.get("attempt_wall_s"), "resumed_from_step": state.get("resumed_from_step", 0)}


def save_student(student: StudentQueryEncoder, out: Path, card: dict) -> None:
    """Save as a sentence-transformers directory (safetensors), with the projection as a Dense layer."""
    with atomic_folder(out) as tmp:
        save_sentence_transformer(student.as_sentence_transformer(), tmp)
        atomic_write_json(tmp / STUDENT_CARD, card)
