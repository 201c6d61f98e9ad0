"""A resumable training checkpoint on Accelerate, written so that a crash at any point leaves a complete one."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from optical.io import atomic_write_json, read_json

log = logging.getLogger(__name__)


class Checkpointer:
    """A resumable checkpoint in ``folder``: Accelerate's state (student weights as safetensors, optimizer,
    schedule, the random states of every process), ``state.json`` (step, dev history, config) and
    ``best.safetensors`` (the best dev weights so far); every process calls :meth:`save` and :meth:`load`.

    A save writes ``folder.tmp`` completely, renames the current checkpoint to ``folder.old``, renames the new one
    into place and only then removes ``folder.old``: a crash at any point leaves a complete checkpoint, and one
    that falls between the two renames is found again as ``folder.old`` (:meth:`exists` puts it back)."""

    def __init__(self, folder: Path, accelerator):
        self.folder, self.accelerator = folder, accelerator
        self.tmp = folder.with_name(folder.name + ".tmp")
        self.old = folder.with_name(folder.name + ".old")

    def exists(self) -> bool:
        """Whether there is a checkpoint to resume from (the previous one, after a crash between renames)."""
        if not (self.folder / "state.json").is_file() and (self.old / "state.json").is_file():
            if self.accelerator.is_main_process:
                log.warning("%s: the last save was interrupted; resuming from the previous checkpoint", self.folder)
                shutil.rmtree(self.folder, ignore_errors=True)
                self.old.rename(self.folder)
            self.accelerator.wait_for_everyone()
        return (self.folder / "state.json").is_file()

    def save(self, state: dict, best: dict[str, torch.Tensor] | None) -> None:
        acc = self.accelerator
        if acc.is_main_process:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        acc.save_state(str(self.tmp))
        acc.wait_for_everyone()  # every process has written its random states into tmp before it is renamed
        if acc.is_main_process:
            if best is not None:
                save_file(best, self.tmp / "best.safetensors")
            atomic_write_json(self.tmp / "state.json", state)  # written last: tmp is complete
            shutil.rmtree(self.old, ignore_errors=True)
            if self.folder.exists():
                self.folder.rename(self.old)
            self.tmp.rename(self.folder)
            shutil.rmtree(self.old, ignore_errors=True)
        acc.wait_for_everyone()

    def load(self) -> tuple[dict, dict[str, torch.Tensor] | None]:
        """``(state, best weights or None)``; the student, optimizer, schedule and random states are restored."""
        self.accelerator.load_state(str(self.folder))
        best = self.folder / "best.safetensors"
        return read_json(self.folder / "state.json"), load_file(best) if best.is_file() else None

    def remove(self) -> None:
        if self.accelerator.is_main_process:
            for folder in (self.folder, self.old, self.tmp):
                shutil.rmtree(folder, ignore_errors=True)
