"""The claim's own test: a student's macro (all-language) difference from a reference, counting seed variance.

Inputs are per-seed reciprocal ranks, ``[{lang: {qid: RR}}]`` (one mapping per trained seed). The macro mean is
unweighted over languages: language ``l`` with ``n_l`` queries weighs each of its queries ``1 / (L n_l)``.

* :func:`macro_randomization`: paired randomisation (sign-flip) test of the macro difference of the seed-mean
  reciprocal ranks, stratified by language (a flip swaps the two systems on one query, never moves a query).
* :func:`macro_bootstrap`: bootstrap of the macro difference that resamples queries within each language (paired:
  both systems on the same draw) *and* each system's seeds, so the interval counts training noise. Resampling
  ``k`` seeds with replacement gives a seed mean whose variance is ``(k-1)/k`` of the true ``σ²/k`` (a third too
  small at ``k = 3``, half at ``k = 2``); ``seed_correction`` first widens each seed's deviation from the seed
  mean by ``sqrt(k/(k-1))``, the adjusted-residual bootstrap of Davison & Hinkley (1997, *Bootstrap Methods and
  their Application*, §3.3 and §3.8 for the two-stage case), so the seed level's variance is unbiased.
* :func:`verdict`: the two-part reading of a comparison — the direction from the ``1 - α`` interval (better /
  worse / no significant difference) and the margin from two one-sided tests, read from the ``1 - 2α`` interval
  (equivalent / non-inferior / inferior or superior by more than the margin / not shown); a bound within twice its
  Monte Carlo error of the threshold it is read against is flagged as borderline.
* :func:`describe`: the one place a verdict becomes words, for a table cell or a sentence.

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
                    chunk: int = 10_000, seed_correction: bool = True) -> np.ndarray:
    """``n_resamples`` bootstrap draws of the macro difference, shape ``(n_resamples,)``.

    Each draw resamples, within every language, ``n_l`` queries with replacement (the same queries for both
    systems) and, independently for each system, its ``k`` seeds with replacement (one seed draw for all languages:
    a seed is one trained student). ``seed_correction``: seeds are drawn from :func:`adjusted_seeds` (a system of
    one seed has no seed variance to count either way)."""
    pairs = _matrices(system, reference)
    if seed_correction:
        pairs = [(adjusted_seeds(s), adjusted_seeds(r)) for s, r in pairs]
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


def adjusted_seeds(rr: np.ndarray) -> np.ndarray:
    """``rr`` ``(k, n)`` (one row per seed) with each row's deviation from the seed mean scaled by
    ``sqrt(k / (k - 1))``: same seed mean, and the seed mean of ``k`` rows drawn with replacement from it has, in
    expectation, the variance ``s²/k`` of the unbiased estimate (``rr`` itself when ``k = 1``)."""
    k = rr.shape[0]
    if k < 2:
        return rr
    mean = rr.mean(0, keepdims=True)
    return mean + np.sqrt(k / (k - 1)) * (rr - mean)


def _seed_weights(rng: np.random.Generator, b: int, k: int) -> np.ndarray:
    """``(b, k)`` weights of ``k`` seeds drawn with replacement, each row summing to 1."""
    picks = rng.integers(0, k, size=(b, k))
    return (picks[:, :, None] == np.arange(k)).sum(axis=1) / k


def equivalence_verdict(lower: float, upper: float, margin: float) -> str:
    """Two one-sided tests at ``±margin`` read from a ``1 - 2α`` interval ``[lower, upper]`` of the difference:
    ``equivalent`` (inside the margin), ``superior`` / ``inferior`` (beyond it, above or below), ``non-inferior``
    (not worse by the margin, not shown equivalent), else ``not shown``."""
    if margin <= 0:
        raise ValueError(f"equivalence margin must be positive, got {margin}")
    if lower > upper:
        raise ValueError(f"interval lower bound {lower} above upper bound {upper}")
    if -margin < lower and upper < margin:
        return "equivalent"
    if lower > margin:
        return "superior"
    if upper < -margin:
        return "inferior"
    if lower > -margin:
        return "non-inferior"
    return "not shown"


def direction_verdict(lower: float, upper: float) -> str:
    """The direction read from a ``1 - α`` interval: ``better`` (above 0), ``worse`` (below), else
    ``no significant difference``."""
    if lower > upper:
        raise ValueError(f"interval lower bound {lower} above upper bound {upper}")
    return "better" if lower > 0 else "worse" if upper < 0 else "no significant difference"


def quantile_mc_error(draws: np.ndarray, q: float, batches: int = 20) -> float:
    """Monte Carlo standard error of the ``q`` quantile of ``draws`` (batch means: the sd of the quantile over
    ``batches`` equal batches, over ``sqrt(batches)``)."""
    usable = len(draws) // batches * batches
    if usable < batches * 10:
        raise ValueError(f"{len(draws)} draws are too few for a Monte Carlo error over {batches} batches")
    per_batch = np.quantile(draws[:usable].reshape(batches, -1), q, axis=1)
    return float(per_batch.std(ddof=1) / np.sqrt(batches))


def verdict(ci: list[float], ci_tost: list[float], margin: float, mc_error: dict[str, float] | None = None
            ) -> dict:
    """The two-part verdict: ``direction`` from the ``1 - α`` interval ``ci`` (:func:`direction_verdict`) and
    ``equivalence`` from the ``1 - 2α`` interval ``ci_tost`` at ``±margin`` (:func:`equivalence_verdict`).

    ``mc_error`` (Monte Carlo errors of the bounds, keys ``ci_low, ci_high, tost_low, tost_high``): ``borderline``
    lists each bound that lies within twice its error of a threshold it is read against (0 for ``ci``; ``±margin``
    for ``ci_tost``), where another set of resamples could change a word."""
    mc_error = mc_error or {}
    checks = [("ci_low", ci[0], (0.0,)), ("ci_high", ci[1], (0.0,)),
              ("tost_low", ci_tost[0], (-margin, margin)), ("tost_high", ci_tost[1], (-margin, margin))]
    borderline = [name for name, bound, thresholds in checks
                  if any(abs(bound - t) < 2 * mc_error.get(name, 0.0) for t in thresholds)]
    return {"direction": direction_verdict(*ci), "equivalence": equivalence_verdict(*ci_tost, margin),
            "borderline": borderline}


_EQUIVALENCE_WORDS = {"equivalent": "equivalent at ±{m}", "non-inferior": "non-inferior at ±{m}",
                      "superior": "better by more than {m}", "inferior": "worse by more than {m}",
                      "not shown": "neither equivalence nor non-inferiority shown at ±{m}"}


def describe(test: dict, system: str | None = None, reference: str | None = None) -> str:
    """A comparison (:func:`macro_comparison`'s result) in words: a table cell (``"better; non-inferior at
    ±0.01"``) or, with ``system`` and ``reference``, a sentence (``"OT better than KD, +0.013 [+0.004, +0.022];
    non-inferior at ±0.01 (equivalence not shown)"``). A borderline bound and a system of one seed say so (a
    ``deterministic_reference``, such as a training-free map, has no training noise to count)."""
    m = f"{test['margin']:g}"
    direction, equivalence = test["direction"], test["equivalence"]
    margin_words = _EQUIVALENCE_WORDS[equivalence].format(m=m)
    notes = []
    if test.get("borderline"):
        notes.append("borderline: a bound within Monte Carlo error of its threshold")
    trained = test["seeds"][:1] if test.get("deterministic_reference") else test["seeds"]
    if min(trained) == 1:
        notes.append("one seed: its training noise is not counted")
    tail = f" ({'; '.join(notes)})" if notes else ""
    if system is None:
        return f"{direction}; {margin_words}{tail}"
    lo, hi = test["ci"]
    said = {"better": f"better than {reference}", "worse": f"worse than {reference}",
            "no significant difference": f"not significantly different from {reference}"}[direction]
    if equivalence == "non-inferior":
        margin_words += " (equivalence not shown)"
    return f"{system} {said}, {test['delta']:+.3f} [{lo:+.3f}, {hi:+.3f}]; {margin_words}{tail}"


VERDICT_METHOD = "two-part verdict; seed-corrected bootstrap"
"""Names the method of :func:`macro_comparison` in a stored test's inputs, so a test made before it is redone."""


def macro_comparison(system: PerSeedRR, reference: PerSeedRR, margin: float, alpha: float = 0.05,
                     n_resamples: int = 100_000, seed: int = 0, seed_correction: bool = True) -> dict:
    """The macro difference of ``system`` vs ``reference`` with its randomisation p-value, bootstrap intervals
    (``1 - α`` and ``1 - 2α``, percentile, seed-corrected unless ``seed_correction=False``) and the two-part
    :func:`verdict` at ``±margin`` (TOST at level ``α``).

    The p-value and the intervals answer different questions: the randomisation test treats each system's seed
    mean as fixed (query variance only), the bootstrap also redraws the seeds (training noise), so a small p may
    sit beside a ``1 - α`` interval that spans 0; the direction word follows the interval."""
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    test = macro_randomization(system, reference, n_resamples, seed)
    draws = macro_bootstrap(system, reference, n_resamples, seed, seed_correction=seed_correction)
    quantiles = {"ci_low": alpha / 2, "ci_high": 1 - alpha / 2, "tost_low": alpha, "tost_high": 1 - alpha}
    bounds = {name: float(np.quantile(draws, q)) for name, q in quantiles.items()}
    mc_error = {name: quantile_mc_error(draws, q) for name, q in quantiles.items()} if n_resamples >= 200 else {}
    ci, ci_tost = [bounds["ci_low"], bounds["ci_high"]], [bounds["tost_low"], bounds["tost_high"]]
    return {"delta": test["delta"], "p_value": test["p_value"], "ci": ci, "ci_level": 1 - alpha,
            "ci_tost": ci_tost, "margin": margin, "alpha": alpha, **verdict(ci, ci_tost, margin, mc_error),
            "mc_error": mc_error, "seeds": [len(system), len(reference)], "n_queries": test["n_queries"],
            "n_resamples": n_resamples, "seed_correction": seed_correction,
            "test": "paired randomisation stratified by language; bootstrap over queries within languages and "
                    "seeds" + (" (seed deviations widened by sqrt(k/(k-1)))" if seed_correction else "")
                    + "; direction from the 1 - α interval, TOST from the 1 - 2α interval"}
