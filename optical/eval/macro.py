"""The claim's own test: a student's macro (all-language) difference from a reference, counting seed variance.

Inputs are per-seed reciprocal ranks, ``[{lang: {qid: RR}}]`` (one mapping per trained seed). The macro mean is
unweighted over languages: language ``l`` with ``n_l`` queries weighs each of its queries ``1 / (L n_l)``.

* :func:`macro_randomization`: paired randomisation (sign-flip) test of the macro difference of the seed-mean
  reciprocal ranks, stratified by language (a flip swaps the two systems on one query, never moves a query).
* :func:`macro_bootstrap`: bootstrap of the macro difference that resamples queries within each language (paired:
  both systems on the same draw) *and* each system's seeds, so the interval counts training noise.
* :func:`equivalence_verdict`: two one-sided tests at a margin fixed beforehand, read from the ``1 - 2α`` interval.

numpy only: the results-reading path imports neither torch nor scipy.
"""

from __future__ import annotations

import itertools

import numpy as np

PerSeedRR = list[dict[str, dict[str, float]]]


def _matrices(system: PerSeedRR, reference: PerSeedRR) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per language, ``(S, R)`` of shapes ``(k_system, n_l)`` and ``(k_reference, n_l)`` over the shared query ids;
    raises naming the language when the systems' languages or query sets differ."""
    if not system or not reference:
        raise ValueError("macro comparison needs at least one seed of each system")
    langs = list(reference[0])
    for label, runs in (("system", system), ("reference", reference)):
        for k, run in enumerate(runs):
            if list(run) != langs:
                raise ValueError(f"{label} seed {k} has languages {list(run)}, the reference has {langs}")
    out = []
    for lang in langs:
        ids = sorted(reference[0][lang])
        if not ids:
            raise ValueError(f"no queries for {lang}")
        for label, runs in (("system", system), ("reference", reference)):
            for k, run in enumerate(runs):
                if set(run[lang]) != set(ids):
                    raise ValueError(f"{label} seed {k}, {lang}: {len(set(run[lang]) ^ set(ids))} query ids differ")
        out.append((np.array([[run[lang][i] for i in ids] for run in system]),
                    np.array([[run[lang][i] for i in ids] for run in reference])))
    return out


def macro_delta(system: PerSeedRR, reference: PerSeedRR) -> float:
    """Macro MRR difference of the seed means, ``mean_l mean_q (mean_s S - mean_r R)``."""
    return float(np.mean([s.mean(0).mean() - r.mean(0).mean() for s, r in _matrices(system, reference)]))


def macro_randomization(system: PerSeedRR, reference: PerSeedRR, n_resamples: int = 100_000,
                        seed: int = 0, chunk: int = 10_000) -> dict:
    """Two-sided paired randomisation test of ``macro_delta = 0``, stratified by language.

    The statistic is ``sum_q w_q d_q`` with ``d_q`` the seed-mean difference on query ``q`` and ``w_q = 1/(L n_l)``.
    Exact (every sign vector) when ``2**N <= n_resamples``; otherwise ``n_resamples`` random sign vectors and
    ``p = (1 + #{|T*| >= |T|}) / (1 + n_resamples)``, as :func:`scipy.stats.permutation_test` does.
    Returns ``{"delta", "p_value", "n_queries", "n_resamples", "exact"}``."""
    pairs = _matrices(system, reference)
    d = np.concatenate([(s.mean(0) - r.mean(0)) / (len(pairs) * s.shape[1]) for s, r in pairs])
    observed = float(d.sum())
    tol = 1e-12 * max(1.0, abs(observed))
    if 2 ** min(len(d), 64) <= n_resamples:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))
        p_value, exact, used = float(np.mean(np.abs(signs @ d) >= abs(observed) - tol)), True, len(signs)
    else:
        rng, hits = np.random.default_rng(seed), 0
        for start in range(0, n_resamples, chunk):
            signs = rng.integers(0, 2, size=(min(chunk, n_resamples - start), len(d)), dtype=np.int8) * 2 - 1
            hits += int(np.sum(np.abs(signs @ d) >= abs(observed) - tol))
        p_value, exact, used = (hits + 1) / (n_resamples + 1), False, n_resamples
    return {"delta": observed, "p_value": p_value, "n_queries": len(d), "n_resamples": used, "exact": exact}


def macro_bootstrap(system: PerSeedRR, reference: PerSeedRR, n_resamples: int = 100_000, seed: int = 0,
                    chunk: int = 10_000) -> np.ndarray:
    """``n_resamples`` bootstrap draws of the macro difference, shape ``(n_resamples,)``.

    Each draw resamples, within every language, ``n_l`` queries with replacement (the same queries for both
    systems) and, independently for each system, its ``k`` seeds with replacement (one seed draw for all languages:
    a seed is one trained student)."""
    pairs = _matrices(system, reference)
    rng, draws = np.random.default_rng(seed), []
    k_sys, k_ref = pairs[0][0].shape[0], pairs[0][1].shape[0]
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        w_sys = _seed_weights(rng, b, k_sys)
        w_ref = _seed_weights(rng, b, k_ref)
        total = np.zeros(b)
        for s, r in pairs:
            n = s.shape[1]
            picks = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]  # n draws per row, flattened
            counts = np.bincount(picks.ravel(), minlength=b * n).reshape(b, n) / n  # (b, n_l) query weights
            total += np.sum(w_sys * (counts @ s.T), axis=1) - np.sum(w_ref * (counts @ r.T), axis=1)
        draws.append(total / len(pairs))
    return np.concatenate(draws)


def _seed_weights(rng: np.random.Generator, b: int, k: int) -> np.ndarray:
    """``(b, k)`` weights of ``k`` seeds drawn with replacement, each row summing to 1."""
    picks = rng.integers(0, k, size=(b, k))
    return (picks[:, :, None] == np.arange(k)).sum(axis=1) / k


def equivalence_verdict(lower: float, upper: float, margin: float) -> str:
    """Two one-sided tests at ``±margin`` read from a ``1 - 2α`` interval ``[lower, upper]`` of the difference:
    ``equivalent`` (inside the margin), ``better`` / ``worse`` (beyond it), ``non-inferior`` (not worse by the
    margin, not shown equivalent), else ``inconclusive``."""
    if margin <= 0:
        raise ValueError(f"equivalence margin must be positive, got {margin}")
    if lower > upper:
        raise ValueError(f"interval lower bound {lower} above upper bound {upper}")
    if -margin < lower and upper < margin:
        return "equivalent"
    if lower > margin:
        return "better"
    if upper < -margin:
        return "worse"
    if lower > -margin:
        return "non-inferior"
    return "inconclusive"


def macro_comparison(system: PerSeedRR, reference: PerSeedRR, margin: float, alpha: float = 0.05,
                     n_resamples: int = 100_000, seed: int = 0) -> dict:
    """The macro difference of ``system`` vs ``reference`` with its randomisation p-value, bootstrap intervals
    (``1 - α`` and ``1 - 2α``, percentile) and the equivalence verdict at ``±margin`` (TOST at level ``α``)."""
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    test = macro_randomization(system, reference, n_resamples, seed)
    draws = macro_bootstrap(system, reference, n_resamples, seed)
    ci = [float(v) for v in np.quantile(draws, [alpha / 2, 1 - alpha / 2])]
    ci_tost = [float(v) for v in np.quantile(draws, [alpha, 1 - alpha])]
    return {"delta": test["delta"], "p_value": test["p_value"], "ci": ci, "ci_level": 1 - alpha,
            "ci_tost": ci_tost, "margin": margin, "alpha": alpha,
            "verdict": equivalence_verdict(*ci_tost, margin),
            "seeds": [len(system), len(reference)], "n_queries": test["n_queries"], "n_resamples": n_resamples,
            "test": "paired randomisation stratified by language; bootstrap over queries within languages and "
                    "seeds; TOST from the 1 - 2α percentile interval"}
