"""Training students: one student from its parameters (stored, or trained and read on dev), and a dev study's
students, each reading its test split at once when the study is final."""

from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

from optical import store
from optical.config import DATA_KEYS, TRAIN_KEYS, config_from_dict
from optical.data.schema import with_bitext_version
from optical.data.training import dev_evaluator, dev_tasks, student_train_params, training_bitext
from optical.io import read_json
from optical.layout import Layout
from optical.studies.test_reads import test_read

# torch, the models and scipy are imported where they are used: a notebook that reads its results back
# (the main job on committed results) starts in a second instead of five


@lru_cache(maxsize=2)
def cached_teacher(name: str, max_length: int):
    from optical.models import Teacher
    from optical.teacher_cache import TeacherTokenCache

    teacher = Teacher(name)
    return teacher, TeacherTokenCache(teacher, max_length)


def training_inputs(train_params: dict, dataset: str, languages: list[str]) -> tuple:
    """What :func:`optical.train.train` takes for ``train_params``: the config, the bitext, the teacher and its token
    cache, and the dev evaluator (``None`` without ``eval_every``)."""
    config = config_from_dict({k: v for k, v in train_params.items() if k in TRAIN_KEYS})
    version = with_bitext_version(train_params)["bitext_version"]
    bitext = training_bitext(dataset, languages, train_params.get("max_pairs"), config.seed, version=version)
    teacher, cache = cached_teacher(config.teacher, config.max_length)
    evaluator = dev_evaluator(dataset, languages, teacher.model, config.dev_select,
                              train_params.get("dev_bitext_pairs", 1000), version=version) \
        if config.eval_every else None
    return config, bitext, teacher, cache, evaluator


def run_student(name: str, train_params: dict, dataset: str, languages: list[str], results_dir: str | Path,
                runs_dir: str | Path, eval_split: str = "test", eval_languages: list[str] | None = None,
                fresh: bool = False) -> dict:
    """Train a student with ``train_params`` (TrainConfig fields, ``max_pairs`` per language, and
    ``dev_bitext_pairs``: held-out MAFAND dev pairs per language for the second dev criterion, default 1000)
    and evaluate it.

    Model selection uses the dev split (``eval_every``); the test split is evaluated once, at the end.
    Stores ``results_dir/<name>.json`` with the training card under ``"training"``.
    """
    unknown = set(train_params) - TRAIN_KEYS - DATA_KEYS
    if unknown:
        raise ValueError(f"unknown training parameters {sorted(unknown)}; valid: {sorted(TRAIN_KEYS | DATA_KEYS)}")
    train_params = with_bitext_version(train_params)
    eval_languages = eval_languages or languages
    params = {"name": name, "dataset": dataset, "languages": languages, "train": train_params,
              "eval_split": eval_split, "eval_languages": eval_languages}
    path = Path(results_dir) / f"{name}.json"
    if (stored := store.stored(path, params, fresh)) is not None:
        return stored
    from optical.eval.system import evaluate
    from optical.train import train

    config, bitext, teacher, cache, evaluator = training_inputs(train_params, dataset, languages)
    run_dir = Path(runs_dir) / name
    if fresh and run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    outcome = train(config, bitext, run_dir, evaluator, teacher=teacher, teacher_cache=cache)
    result = evaluate(str(run_dir / "student"), dataset, eval_languages, config.teacher, eval_split)
    card = read_json(run_dir / "student" / "optical_card.json")
    result.update(system=name, training={
        "config": asdict(config), "pairs": card["pairs"], "bitext_counts": card["bitext_counts"],
        "steps": outcome.steps, "dev_history": card["dev_history"], "best_dev_macro_mrr10": outcome.best_dev,
        "git_commit": card["git_commit"], "device": card["device"], "wall_s": card["wall_s"],
        "grad_norms_step0": card.get("grad_norms_step0"), "log": training_log_summary(run_dir / "train_log.jsonl")})
    return store.store(path, params, result)


def training_log_summary(path: str | Path, bins: int = 20) -> dict[str, list[float]]:
    """Means of every logged number over ``bins`` equal spans of steps (``"step"``: each span's last step):
    what the book needs from a training log (loss components, ε, cost spread, plan entropy), small enough
    to commit with the results. A step logged twice (written after a checkpoint, then again by the resumed
    run) counts once, with its last line."""
    import json

    import numpy as np

    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = sorted({r["step"]: r for r in rows}.values(), key=lambda r: r["step"])  # a resumed step: its last line
    if not rows:
        return {}
    spans = np.array_split(np.arange(len(rows)), min(bins, len(rows)))
    keys = sorted({k for r in rows for k, v in r.items() if isinstance(v, (int, float)) and k != "step"})
    summary = {"step": [int(rows[s[-1]]["step"]) for s in spans]}
    for key in keys:
        summary[key] = [round(float(np.mean([rows[i][key] for i in s if key in rows[i]] or [np.nan])), 6)
                        for s in spans]
    return summary


def dev_study(p: dict, key: str, root: str | Path = ".", fresh: bool = False,
              only: list[str] | None = None) -> dict[str, dict]:
    """Students trained jointly on ``p[key]["languages"]`` with ``p[key]["train"]`` and one variant each of
    ``p[key]["variants"]`` (``only``: a subset), selected and scored on dev only (`03_ablations` and `08_fair_test`).

    Results go to ``results/<key>/<variant>.json`` with the dev history (both dev criteria) of training. The study
    may name its own ``teacher`` (default ``p["teacher"]``). A study of final students (``final: true``) reads the
    test split in every readout of its ``readouts`` as soon as each student is trained (:func:`test_read`), from
    the student just saved: a later session needs neither the student nor a replay.
    """
    s = p[key]
    unknown = sorted(set(only or []) - set(s["variants"]))
    if unknown:
        raise ValueError(f"unknown variants {unknown} of {key}; valid: {sorted(s['variants'])}")
    if s.get("final") and not s.get("readouts"):
        raise ValueError(f"{key}: a study of final students must declare its readouts before training")
    langs = [lang for lang in s["languages"] if lang in dev_tasks(p["dataset"], s["languages"])]
    out, runs = Layout(root).study(key), Layout(root).runs(key)
    results = {}
    # seed by seed (stable): a study cut short leaves every system with the same seeds
    for name, variant in sorted(s["variants"].items(), key=lambda kv: kv[1].get("seed", s["train"].get("seed", 0))):
        if only and name not in only:
            continue
        results[name] = run_student(name, student_train_params(p, key, name), p["dataset"], s["languages"], out,
                                    runs, eval_split="dev",
                                    eval_languages=langs, fresh=fresh)
        for readout in s["readouts"] if s.get("final") else ():
            test_read(p, key, name, readout, root, fresh)
    return results
