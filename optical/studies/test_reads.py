"""Test reads: one read of the test split for a study's student, floor or ceiling (stored, or read once), and a
final study's reads with its seed means and tests against KD."""

from __future__ import annotations

import logging
from pathlib import Path

from optical import store
from optical.io import atomic_write_json, read_json
from optical.data.training import student_train_params
from optical.layout import Layout
from optical.study_spec import in_family, seed_groups
from optical.studies.seed_means import (PER_LANGUAGE_RESAMPLES, keep_tests, add_macro_comparison,
                                        add_significance, aggregate_seeds)

# torch, the models and scipy are imported where they are used: a notebook that reads its results back
# (the main job on committed results) starts in a second instead of five

log = logging.getLogger(__name__)


def run_baseline(system: str, dataset: str, languages: list[str], teacher: str, results_dir: str | Path,
                 split: str = "test", fresh: bool = False, name: str | None = None) -> dict:
    """Evaluate a built-in system and store ``results_dir/<name or system>.json``."""
    from optical.eval.system import evaluate

    params = {"system": system, "dataset": dataset, "languages": languages, "teacher": teacher, "split": split}
    path = Path(results_dir) / f"{name or system}.json"
    if (stored := store.stored(path, params, fresh)) is not None:
        return stored
    result = evaluate(system, dataset, languages, teacher, split)
    result["system"] = name or system
    return store.store(path, params, result)


def kd_reference(systems: list[str]) -> str | None:
    """The KD student the others are tested against: ``kd`` when present, else the first of the KD family
    (e.g. ``kd-frozen``, chosen on dev); ``None`` without one."""
    return "kd" if "kd" in systems else next((n for n in systems if in_family(n, "kd")), None)


def final_test(p: dict, key: str, variants: list[str], readouts: tuple[str, ...] = ("pooled", "maxsim"),
               root: str | Path = ".", fresh: bool = False,
               readout_variants: dict[str, list[str]] | None = None) -> dict[str, dict]:
    """Test once the students ``variants`` of ``p[key]`` (trained by :func:`dev_study`, chosen on dev) and the
    teacher's floor and ceiling on ``p[key]["languages"]``, with every readout; ``readout_variants`` restricts a
    readout to some of the variants (those a budget covered: a MaxSim read needs the student's checkpoint).

    A variant ``name-seed<k>`` is a seed of ``name`` (:func:`seed_groups`). Each student's read is stored as
    ``results/<key>/test/seeds/<variant>-<readout>.json``; ``results/<key>/test/<name>-<readout>.json`` holds the
    mean over its seeds (:func:`aggregate_seeds`: per-query RR averaged over seeds) with its paired test against
    the KD student (:func:`kd_reference`) of the same readout (randomisation over queries, Holm over languages:
    exploratory; ``statistics: per_language_resamples``, default :data:`PER_LANGUAGE_RESAMPLES`) and the macro
    test of the claim (:func:`add_macro_comparison`; settings: ``statistics`` of the study, else of ``p``);
    floors and ceilings are ``results/<key>/test/<teacher|ceiling>-<readout>.json``, copied from another study's
    read with the same parameters where there is one. Returns the floors, ceilings and seed means."""
    s = p[key]
    readout_variants = readout_variants or {}
    unknown = sorted(set(variants).union(*readout_variants.values()) - set(s["variants"]))
    if unknown:
        raise ValueError(f"unknown variants {unknown} of {key}; valid: {sorted(s['variants'])}")
    if extra := sorted(set(readout_variants) - set(readouts)):
        raise ValueError(f"readout_variants names readouts {extra} that are not read; readouts: {list(readouts)}")
    layout = Layout(root)

    def read(system: str, readout: str, path: Path) -> dict:
        return test_read(p, key, system, readout, root, fresh, path)

    results = {}
    for readout in readouts:
        for system in ("teacher", "ceiling"):
            results[f"{system}-{readout}"] = read(system, readout, layout.seed_mean(key, system, readout))
        means, reads, groups = {}, {}, seed_groups(readout_variants.get(readout, variants))
        kd = kd_reference(list(groups))
        for name, members in groups.items():
            system = f"{name}-{readout}"
            reads[system] = [read(v, readout, layout.test_read(key, v, readout)) for v in members]
            means[system] = aggregate_seeds(system, reads[system])
            if kd and name != kd:  # without KD here nothing is tested: no stale test is kept
                keep_tests(means[system], layout.seed_mean(key, name, readout))
            means[system]["params"] = {**reads[system][0]["params"], "system": name, "variants": members}
            atomic_write_json(layout.seed_mean(key, name, readout), means[system])
        if kd:
            stats = dict(s.get("statistics", p.get("statistics")) or {})
            per_language = stats.pop("per_language_resamples", PER_LANGUAGE_RESAMPLES)
            add_significance(means, f"{kd}-{readout}", layout.tested(key), per_language)
            add_macro_comparison(means, reads, f"{kd}-{readout}", layout.tested(key), stats)
        results.update(means)
    return results


def test_read(p: dict, key: str, system: str, readout: str, root: str | Path = ".", fresh: bool = False,
              path: Path | None = None) -> dict:
    """One read of the test split for study ``p[key]``: a trained variant (from ``runs/<key>/<system>/student``)
    or the teacher's ``teacher``/``ceiling``, with ``readout``; stored at ``path`` (default: the variant's
    ``results/<key>/test/seeds/<system>-<readout>.json``) and read back when its parameters are unchanged."""
    s = p[key]
    teacher = s.get("teacher", p["teacher"])
    path = path or Layout(root).test_read(key, system, readout)
    train = student_train_params(p, key, system, teacher=False) if system in s["variants"] else None
    params = {"system": system, "dataset": p["dataset"], "languages": s["languages"], "readout": readout,
              "teacher": teacher, "train": train}
    if (stored := store.stored(path, params, fresh)) is None:
        stored = None if train or fresh else _floor_of_another_study(root, path.name, params)
        if stored is None:
            from optical.eval.system import evaluate
            from optical.models import STUDENT_CARD

            target = str(Layout(root).run(key, system) / "student") if train else system
            stored = evaluate(target, p["dataset"], s["languages"], teacher, "test", readout=readout)
            card = Path(target) / STUDENT_CARD
            if train and card.is_file() and (replay := read_json(card).get("replay")):
                stored["replay"] = replay  # a student replayed from a committed run: how close it came
        stored["system"] = path.stem
        stored = store.store(path, params, stored)
    return stored


def replayed_reads(key: str, root: str | Path = ".") -> dict[str, dict]:
    """The test reads of study ``key`` (``results/<key>/test/seeds``) made from students replayed from committed
    runs (:func:`replay_to_best`), by read: how close the replay came (``exact``, ``tolerance``,
    ``max_dev_difference``: :func:`optical.replay.check_replay`)."""
    paths = sorted(Layout(root).test_reads(key).glob("*.json"))
    return {path.stem: r["replay"] for path in paths if "replay" in (r := read_json(path))}


def _floor_of_another_study(root: str | Path, name: str, params: dict) -> dict | None:
    """The teacher's floor or ceiling ``name`` as another study of :func:`final_test` stored it with the same
    ``params`` (dataset, languages, readout, teacher): it does not depend on the study, and MaxSim takes minutes.
    Another study's files are only read (:func:`optical.store.peek`), never moved or replaced."""
    for path in sorted(Layout(root).results.glob(f"*/test/{name}")):
        if (stored := store.peek(path, params)) is not None:
            log.info("%s: taken from %s (same parameters)", name, path)
            return dict(stored)
    return None
