"""Replays of committed runs: a student re-trained to its run's best dev step once the run's checkpoint is gone
(checkpoints are not committed), checked against the run's dev history, for reading it with another readout."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file

from optical.config import TrainConfig
from optical.data.schema import Bitext
from optical.eval.selection import best_evaluation
from optical.io import read_json
from optical.models import Teacher
from optical.provenance import refuse_other_run, save_student, student_card
from optical.teacher_cache import TeacherTokenCache
from optical.train import bitext_pairs, build_components


def save_best_of_replay(output_dir: str | Path, config: TrainConfig, bitext: list[Bitext], history: list[dict],
                        atol: float = 1e-3, teacher: Teacher | None = None,
                        teacher_cache: TeacherTokenCache | None = None, exact: bool = True) -> Path:
    """Save, as ``output_dir/student``, the student a finished run with dev ``history`` kept (its best dev step),
    from the checkpoint of a replay of that run stopped at or after that step (``train(..., stop_at_step=...)``):
    for reading a run with another readout once its checkpoint is gone. The replay's dev history must be the
    run's up to its step (:func:`check_replay` with ``atol`` and ``exact``) and reach the run's best step, else
    ``ValueError``; the card records the run's ``history`` and, as ``replay``, how close the replay came."""
    out = Path(output_dir)
    folder = out / "checkpoint"
    if not (folder / "state.json").is_file() or not (folder / "best.safetensors").is_file():
        raise ValueError(f"{folder} holds no checkpoint with best dev weights: replay the run with an evaluator first")
    state = read_json(folder / "state.json")
    refuse_other_run(folder, state["config"], state["n_pairs"], config, len(bitext_pairs(bitext)[0]),
                      "was written by")
    replay = check_replay(state["dev_history"], history, atol, exact)
    best = best_evaluation(history)
    if best["step"] > state["step"]:
        raise ValueError(f"the replay in {folder} is at step {state['step']}: the run's best step {best['step']} "
                         "is not reached")
    c = build_components(config, bitext, config.max_steps or 1, "cpu", teacher, teacher_cache, fit_projection=False)
    c.student.load_state_dict(load_file(folder / "best.safetensors"))
    card = student_card(config, bitext, {**state, "step": history[-1]["step"], "dev_history": history,
                                          "best_dev": best["macro"]}, "cpu", 1)
    save_student(c.student, out / "student", {**card, "replayed_to_step": state["step"], "replay": replay})
    return out / "student"


def check_replay(replayed: list[dict], history: list[dict], atol: float = 1e-3, exact: bool = True) -> dict:
    """``ValueError`` unless the dev history of a replay is the run's up to where it got: every number within
    ``atol`` and the selection criterion ``"macro"`` bit for bit (``exact``: the same run), or, with
    ``exact=False`` (a near replay, drifted from its run in floating point), the macro within ``atol`` too and
    the best of the evaluations made at the same step as the run's best over those steps. Returns the record of
    the replay for its student card: ``{"exact", "tolerance": atol, "max_dev_difference"}``."""
    if len(replayed) > len(history):
        raise ValueError(f"the replay has {len(replayed)} dev evaluations, the run {len(history)}")
    largest = 0.0
    for mine, theirs in zip(replayed, history):
        difference = max(abs(mine[k] - theirs[k]) for k in mine) if mine.keys() == theirs.keys() else float("inf")
        if difference > atol or (exact and mine["macro"] != theirs["macro"]):
            raise ValueError(f"the replay's dev evaluation at step {mine['step']} differs from the run's "
                             f"(largest difference {difference:.2g}, tolerance {atol:g}"
                             f"{', macro bit for bit' if exact else ''}): its student is not the run's")
        largest = max(largest, difference)
    if replayed and best_evaluation(replayed)["step"] != best_evaluation(history[:len(replayed)])["step"]:
        raise ValueError(f"the replay's best dev evaluation is at step {best_evaluation(replayed)['step']}, the "
                         f"run's (over the same steps) at {best_evaluation(history[:len(replayed)])['step']}")
    return {"exact": exact, "tolerance": atol, "max_dev_difference": largest}
