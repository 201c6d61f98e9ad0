"""Replays: a committed student re-trained to its best dev step when its checkpoint is gone."""

from __future__ import annotations

from pathlib import Path

from optical.eval.selection import best_evaluation
from optical.io import atomic_write_json, read_json
from optical.layout import Layout
from optical.data.training import student_train_params
from optical.studies.students import training_inputs

# torch, the models and scipy are imported where they are used: a notebook that reads its results back
# (the main job on committed results) starts in a second instead of five


def replay_to_best(p: dict, key: str, variant: str, root: str | Path = ".", tolerance: float | None = None) -> Path:
    """The student that the committed run ``variant`` of ``p[key]`` (:func:`dev_study`) kept, re-trained only as
    far as its best dev step and saved as ``runs/<key>/<variant>/student``, so that :func:`final_test` can read it
    with another readout once its checkpoint is gone (checkpoints are not committed). The replay must reproduce the
    run's dev history (:func:`optical.replay.check_replay`), else ``ValueError``: bit for bit in the selection
    criterion by default (a final test of the replay with a readout already read should then equal the committed
    read), or, with a ``tolerance``, every dev number within it and the same best step (a near replay: the student
    card and :func:`final_test`'s read record it). A replay already at its best step is checked again, not
    re-trained."""
    from optical.models import STUDENT_CARD
    from optical.replay import check_replay, save_best_of_replay
    from optical.train import train

    s = p[key]
    path = Layout(root).dev_result(key, variant)
    result = read_json(path)
    committed = result["training"]
    train_params = student_train_params(p, key, variant)
    wanted = {"dataset": p["dataset"], "languages": s["languages"], **train_params}
    ran = {k: result["params"][k] for k in ("dataset", "languages")} | result["params"]["train"]
    differ = sorted(k for k in wanted.keys() | ran.keys() if wanted.get(k) != ran.get(k))
    if differ:
        raise ValueError(f"{path} was trained with other parameters than {key}.{variant} has now ({differ}): "
                         "a replay would not be that run")
    best_step = best_evaluation(committed["dev_history"])["step"]  # a run never evaluated on dev fails here
    config, bitext, teacher, cache, evaluator = training_inputs(train_params, p["dataset"], s["languages"])
    out = Layout(root).run(key, variant)
    check = {"atol": 1e-3, "exact": True} if tolerance is None else {"atol": tolerance, "exact": False}
    outcome = train(config, bitext, out, evaluator, teacher=teacher, teacher_cache=cache, stop_at_step=best_step)
    if (out / "student").is_dir():  # the best step was the last: the replay ran to the end and kept its own
        replay = check_replay(outcome.dev_history, committed["dev_history"], **check)
        card = read_json(out / "student" / STUDENT_CARD)
        atomic_write_json(out / "student" / STUDENT_CARD, {**card, "replay": replay})
        return out / "student"
    return save_best_of_replay(out, config, bitext, committed["dev_history"], teacher=teacher, teacher_cache=cache,
                               **check)
