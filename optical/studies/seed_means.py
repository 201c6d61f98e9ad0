"""Seed means and the tests against KD: a system from its per-seed reads, the exploratory per-language tests
and the claim's macro test, kept while their inputs are unchanged."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from optical.config import TrainConfig
from optical.io import atomic_write_json, read_json

# torch, the models and scipy are imported where they are used: a notebook that reads its results back
# (the main job on committed results) starts in a second instead of five


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
per_language_resamples`` sets another (the committed fair-test (`08_fair_test`) tables used 10,000)."""


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


def keep_tests(result: dict, previous: Path) -> dict:
    """``result`` with the tests stored in ``previous`` (:func:`add_significance` and :func:`add_macro_comparison`
    keep them only when they read the same inputs)."""
    if previous.is_file():
        stored = read_json(previous)
        result.update({k: stored[k] for k in ("significance", "macro_test") if k in stored})
    return result
