"""The first comparison (the appendix chapters): baselines, students per loss and seed, ablations, bitext size
and the first multilingual students."""

from __future__ import annotations

from pathlib import Path

from optical.io import atomic_write_json
from optical.layout import Layout
from optical.studies.seed_means import keep_tests, add_significance, aggregate_seeds
from optical.studies.students import dev_study, run_student
from optical.studies.test_reads import run_baseline

# torch, the models and scipy are imported where they are used: a notebook that reads its results back
# (the main job on committed results) starts in a second instead of five


def baselines(p: dict, root: str | Path = ".", fresh: bool = False) -> dict[str, dict]:
    """`01_baselines`: every baseline of ``p["baselines"]`` on the test split."""
    out = Layout(root).study(p["dataset"])
    return {s: run_baseline(s, p["dataset"], p["languages"], p["teacher"], out, fresh=fresh) for s in p["baselines"]}


def students(p: dict, root: str | Path = ".", fresh: bool = False) -> dict[str, dict]:
    """`02_distillation` and `07_multilingual`: one student per loss of ``p["losses"]`` and seed of ``p["seeds"]``,
    tested once.

    ``p["losses"]`` is a list of loss names, or a mapping of student names to training options (e.g. the
    dev-selected OT variant: ``{ot-best: {loss: ot, epsilon: 0.01, eps_start: 0.5, marginals: idf}}``).

    The student starts from ``p["student"]`` (default: a copy of ``p["teacher"]``); names get ``p["prefix"]``
    (default none). Per-seed results go to ``results/<dataset>/seeds/<prefix><loss>-seed<k>.json``;
    ``results/<dataset>/<prefix><loss>.json`` holds their mean (and sd), per-query RR averaged over seeds,
    and the significance test against ``<prefix>kd``.
    """
    out = Layout(root).study(p["dataset"])
    runs = Layout(root).runs(p["dataset"])
    seeds = p.get("seeds") or [p["train"].get("seed", 0)]
    prefix, init = p.get("prefix", ""), {"student": p["student"]} if p.get("student") else {}
    specs = p["losses"] if isinstance(p["losses"], dict) else {loss: {"loss": loss} for loss in p["losses"]}
    against_kd = "kd" in specs and len(specs) > 1
    results = {}
    for loss, spec in specs.items():
        name = prefix + loss
        per_seed = [run_student(f"{name}-seed{seed}", {**p["train"], **init, "seed": seed, **spec,
                                                       "teacher": p["teacher"]},
                                p["dataset"], p["languages"], out / "seeds", runs, fresh=fresh) for seed in seeds]
        results[name] = aggregate_seeds(name, per_seed)
        if against_kd and loss != "kd":
            keep_tests(results[name], out / f"{name}.json")
        atomic_write_json(out / f"{name}.json", results[name])
    if against_kd:
        add_significance(results, prefix + "kd", out)
    return results


def ablations(p: dict, root: str | Path = ".", fresh: bool = False) -> dict[str, dict]:
    """`03_ablations`: variants of the OT loss (and KD for reference), trained jointly, scored on dev."""
    return dev_study(p, "ablations", root, fresh)


def bitext_size(p: dict, root: str | Path = ".", fresh: bool = False) -> dict[str, dict]:
    """`04_bitext_size`: per-language students with N bitext pairs for each loss, scored on that language's dev."""
    b = p["bitext_size"]
    out, runs = Layout(root).study("bitext_size"), Layout(root).runs("bitext_size")
    results = {}
    for lang in b["languages"]:
        for size in b["sizes"]:
            for loss in b["losses"]:
                name = f"{lang}-{size}-{loss}"
                results[name] = run_student(name, {**b["train"], "max_pairs": size, "loss": loss,
                                                   "teacher": p["teacher"]}, p["dataset"], [lang], out, runs,
                                            eval_split="dev", fresh=fresh)
    return results


def multilingual(p: dict, root: str | Path = ".", fresh: bool = False) -> dict[str, dict]:
    """`07_multilingual`: KD and OT students initialised from the multilingual encoder ``p["multilingual"]["model"]``.

    One arm per entry of ``p["multilingual"]["arms"]`` (name -> its ``teacher`` and optional ``train``
    overrides); results are named ``<arm>-<loss>`` and tested against ``<arm>-kd`` (see :func:`students`).
    """
    m = p["multilingual"]
    results = {}
    for arm, spec in m["arms"].items():
        results.update(students({"dataset": p["dataset"], "languages": p["languages"], "teacher": spec["teacher"],
                                 "student": m["model"], "losses": m["losses"], "seeds": m["seeds"],
                                 "train": {**m["train"], **spec.get("train", {})}, "prefix": f"{arm}-"}, root, fresh))
    return results
