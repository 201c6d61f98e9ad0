"""Paired significance tests on per-query scores and multiple-testing correction."""

from __future__ import annotations

import numpy as np
from scipy.stats import permutation_test


def paired_randomization(x: dict[str, float], y: dict[str, float], n_resamples: int = 10000, seed: int = 0) -> dict:
    """Two-sided paired randomisation (sign-flip) test of ``mean(x - y) = 0`` over shared query ids.

    Returns ``{"delta": mean(x - y), "p_value", "n"}``. Raises when the query sets differ.
    """
    if set(x) != set(y):
        raise ValueError(f"paired test needs the same queries: {len(set(x) ^ set(y))} ids differ")
    ids = sorted(x)
    a = np.array([x[i] for i in ids])
    b = np.array([y[i] for i in ids])
    if np.allclose(a, b):
        return {"delta": 0.0, "p_value": 1.0, "n": len(ids)}
    res = permutation_test((a, b), lambda u, v, axis: np.mean(u - v, axis=axis), permutation_type="samples",
                           vectorized=True, n_resamples=n_resamples, alternative="two-sided", random_state=seed)
    return {"delta": float(np.mean(a - b)), "p_value": float(res.pvalue), "n": len(ids)}


def holm(p_values: dict[str, float]) -> dict[str, float]:
    """Holm–Bonferroni adjusted p-values (family-wise error control), same keys."""
    keys = sorted(p_values, key=p_values.get)
    m, running, adjusted = len(keys), 0.0, {}
    for rank, key in enumerate(keys):
        running = max(running, min(1.0, (m - rank) * p_values[key]))
        adjusted[key] = running
    return {k: adjusted[k] for k in p_values}


def compare_runs(per_query_a: dict[str, dict[str, float]], per_query_b: dict[str, dict[str, float]],
                 n_resamples: int = 10000, seed: int = 0) -> dict[str, dict]:
    """Per-language paired test of system A vs B (``{lang: {qid: RR}}``) with Holm-corrected p-values."""
    langs = [lang for lang in per_query_a if lang in per_query_b]
    tests = {lang: paired_randomization(per_query_a[lang], per_query_b[lang], n_resamples, seed) for lang in langs}
    corrected = holm({lang: t["p_value"] for lang, t in tests.items()})
    for lang in langs:
        tests[lang]["p_holm"] = corrected[lang]
    return tests
