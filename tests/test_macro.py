"""The macro statistics (optical.eval.macro) against scipy and hand-computed cases."""

import numpy as np
import pytest
from scipy.stats import bootstrap, permutation_test

from optical.eval.macro import (adjusted_seeds, describe, direction_verdict, equivalence_verdict, macro_bootstrap,
                                macro_comparison, macro_delta, macro_randomization, quantile_mc_error, verdict)


def runs(*seeds: dict[str, list[float]]) -> list[dict[str, dict[str, float]]]:
    """Per-seed ``{lang: {qid: RR}}`` from ``{lang: [RR, ...]}``."""
    return [{lang: {str(i): v for i, v in enumerate(values)} for lang, values in s.items()} for s in seeds]


def test_hand_computed_macro_delta_and_exact_p():
    # hau: d = (0.5, 0.1), zul: d = (0.2,): macro = (0.3 + 0.2) / 2 = 0.25, weights 1/4, 1/4, 1/2.
    sys = runs({"hau": [1.0, 0.6], "zul": [0.7]})
    ref = runs({"hau": [0.5, 0.5], "zul": [0.5]})
    assert macro_delta(sys, ref) == pytest.approx(0.25)
    # sign vectors of (0.125, 0.025, 0.1): |T*| >= 0.25 only for (+,+,+) and (-,-,-): p = 2/8
    test = macro_randomization(sys, ref, n_resamples=1000)
    assert test["exact"] and test["p_value"] == pytest.approx(0.25) and test["delta"] == pytest.approx(0.25)


def test_randomization_equals_scipy_exact_permutation_test():
    rng = np.random.default_rng(3)
    sizes = {"hau": 5, "zul": 4, "twi": 3}
    sys = runs({lang: list(rng.random(n)) for lang, n in sizes.items()},
               {lang: list(rng.random(n)) for lang, n in sizes.items()})
    ref = runs({lang: list(rng.random(n)) for lang, n in sizes.items()})
    a = np.concatenate([np.mean([[s[lang][str(i)] for i in range(n)] for s in sys], 0) for lang, n in sizes.items()])
    b = np.concatenate([[ref[0][lang][str(i)] for i in range(n)] for lang, n in sizes.items()])
    w = np.concatenate([np.full(n, 1 / (3 * n)) for n in sizes.values()])
    expected = permutation_test((a, b), lambda u, v, axis: np.sum(w * (u - v), axis=axis),
                                permutation_type="samples", vectorized=True, n_resamples=10_000)
    test = macro_randomization(sys, ref, n_resamples=10_000)
    assert test["exact"]
    assert test["delta"] == pytest.approx(expected.statistic)
    assert test["p_value"] == pytest.approx(expected.pvalue)


def test_randomization_monte_carlo_is_close_to_scipy():
    rng = np.random.default_rng(0)
    x, y = rng.random(40), rng.random(40) * 0.8
    expected = permutation_test((x, y), lambda u, v, axis: np.mean(u - v, axis=axis), permutation_type="samples",
                                vectorized=True, n_resamples=100_000, random_state=1)
    test = macro_randomization(runs({"hau": list(x)}), runs({"hau": list(y)}), n_resamples=100_000)
    assert not test["exact"]
    assert test["p_value"] == pytest.approx(expected.pvalue, abs=0.005)


def test_bootstrap_one_seed_one_language_matches_scipy_percentile_interval():
    rng = np.random.default_rng(1)
    x, y = rng.random(200), rng.random(200)
    draws = macro_bootstrap(runs({"hau": list(x)}), runs({"hau": list(y)}), n_resamples=50_000)
    expected = bootstrap((x - y,), np.mean, method="percentile", n_resamples=50_000, random_state=2).confidence_interval
    assert np.quantile(draws, [0.025, 0.975]) == pytest.approx([expected.low, expected.high], abs=0.004)


def test_bootstrap_of_a_constant_difference_is_that_constant():
    draws = macro_bootstrap(runs({"hau": [0.5, 0.7, 0.2]}), runs({"hau": [0.4, 0.6, 0.1]}), n_resamples=1000)
    assert np.allclose(draws, 0.1)


def test_seed_variance_widens_the_interval():
    rng = np.random.default_rng(4)
    base = rng.random(300)
    ref = runs({"hau": list(base)})
    # two seeds whose difference from the reference is +0.05 and -0.03 on every query: the mean +0.01 is the same
    # whatever queries are drawn, so only the seed draw spreads it
    sys = runs({"hau": list(base + 0.05)}, {"hau": list(base - 0.03)})
    draws = macro_bootstrap(sys, ref, n_resamples=20_000, seed_correction=False)
    assert draws.mean() == pytest.approx(0.01, abs=0.002)
    assert set(np.round(np.unique(draws), 6)) == {-0.03, 0.01, 0.05}
    # corrected (k = 2): the deviations ±0.04 widen by sqrt(2)
    corrected = macro_bootstrap(sys, ref, n_resamples=20_000)
    assert set(np.round(np.unique(corrected), 6)) == set(np.round([0.01 - 0.04 * 2 ** 0.5, 0.01,
                                                                   0.01 + 0.04 * 2 ** 0.5], 6))
    collapsed = runs({"hau": list(base + 0.01)})
    assert np.ptp(macro_bootstrap(collapsed, ref, n_resamples=1000)) < 1e-12


def test_adjusted_seeds_keep_the_mean_and_unbias_the_seed_level_variance():
    rr = np.array([[0.2, 0.4], [0.5, 0.1], [0.8, 0.4]])
    adjusted = adjusted_seeds(rr)
    assert np.allclose(adjusted.mean(0), rr.mean(0))
    # population variance of the adjusted rows = sample variance (ddof=1) of the original ones
    assert np.allclose(adjusted.var(0), rr.var(0, ddof=1))
    assert np.array_equal(adjusted_seeds(rr[:1]), rr[:1])


@pytest.mark.parametrize("k_sys, k_ref", [(2, 2), (3, 3), (3, 2)])
def test_seed_corrected_bootstrap_matches_a_known_between_seed_variance(k_sys, k_ref):
    """Simulated studies whose seed effects have known variance σ² (each seed shifts every query by its own
    N(0, σ²) offset; query effects are shared, so they cancel in the paired difference): the true variance of the
    seed-mean difference is σ²/k_sys + σ²/k_ref. Averaged over many studies the corrected bootstrap's variance
    hits it; the plain seed resampling falls short by (k-1)/k."""
    rng, sigma, studies = np.random.default_rng(11), 0.02, 300
    truth = sigma ** 2 / k_sys + sigma ** 2 / k_ref
    corrected, plain = [], []
    for i in range(studies):
        base = rng.random(60)
        sys = runs(*({"hau": list(base + rng.normal(0, sigma))} for _ in range(k_sys)))
        ref = runs(*({"hau": list(base + rng.normal(0, sigma))} for _ in range(k_ref)))
        corrected.append(macro_bootstrap(sys, ref, n_resamples=2000, seed=i).var())
        plain.append(macro_bootstrap(sys, ref, n_resamples=2000, seed=i, seed_correction=False).var())
    expected_plain = sigma ** 2 * ((k_sys - 1) / k_sys ** 2 + (k_ref - 1) / k_ref ** 2)
    assert np.mean(corrected) / truth == pytest.approx(1.0, abs=0.12)
    assert np.mean(plain) / expected_plain == pytest.approx(1.0, abs=0.12)
    assert np.mean(plain) < 0.8 * truth


@pytest.mark.parametrize("interval, word", [((-0.005, 0.008), "equivalent"), ((-0.005, 0.02), "non-inferior"),
                                            ((0.012, 0.03), "superior"), ((-0.03, -0.015), "inferior"),
                                            ((-0.02, 0.005), "not shown")])
def test_equivalence_verdict(interval, word):
    assert equivalence_verdict(*interval, margin=0.01) == word


@pytest.mark.parametrize("interval, word", [((0.004, 0.022), "better"), ((-0.024, -0.008), "worse"),
                                            ((-0.001, 0.01), "no significant difference")])
def test_direction_follows_the_interval(interval, word):
    assert direction_verdict(*interval) == word


def test_the_two_parts_in_words():
    # the cases: a CI above zero is "better" whatever the margin says; one below zero is "worse"
    test = {"delta": 0.013, "ci": [0.004, 0.022], "ci_tost": [0.0055, 0.0205], "margin": 0.01, "seeds": [3, 3]}
    test.update(verdict(test["ci"], test["ci_tost"], 0.01))
    assert (test["direction"], test["equivalence"]) == ("better", "non-inferior")
    assert describe(test) == "better; non-inferior at ±0.01"
    assert describe(test, "OT", "KD") == ("OT better than KD, +0.013 [+0.004, +0.022]; non-inferior at ±0.01 "
                                          "(equivalence not shown)")
    low = {"delta": -0.016, "ci": [-0.024, -0.008], "ci_tost": [-0.023, -0.009], "margin": 0.01, "seeds": [2, 1]}
    low.update(verdict(low["ci"], low["ci_tost"], 0.01))
    assert describe(low) == ("worse; neither equivalence nor non-inferiority shown at ±0.01 "
                             "(one seed: its training noise is not counted)")


def test_a_bound_within_its_monte_carlo_error_of_a_threshold_is_borderline():
    assert verdict([0.001, 0.02], [0.0099, 0.018], 0.01, {"ci_low": 0.002, "tost_low": 0.0001})["borderline"] \
        == ["ci_low", "tost_low"]
    assert verdict([0.004, 0.02], [0.005, 0.018], 0.01, {"ci_low": 0.001, "tost_low": 0.001})["borderline"] == []
    draws = np.random.default_rng(2).normal(0, 1, 100_000)
    # the normal quantile's standard error: sqrt(q (1-q) / n) / φ(z_q)
    expected = np.sqrt(0.025 * 0.975 / 100_000) / (np.exp(-1.959964 ** 2 / 2) / np.sqrt(2 * np.pi))
    assert quantile_mc_error(draws, 0.025) == pytest.approx(expected, rel=0.4)


def test_comparison_reports_the_claim_and_rejects_bad_input():
    rng = np.random.default_rng(5)
    base = {lang: rng.random(150) for lang in ("hau", "zul")}
    ref = runs({k: list(v) for k, v in base.items()}, {k: list(v + 0.002) for k, v in base.items()})
    close = runs({k: list(v + 0.001) for k, v in base.items()}, {k: list(v + 0.003) for k, v in base.items()})
    result = macro_comparison(close, ref, margin=0.01, n_resamples=2000)
    assert result["equivalence"] == "equivalent" and result["seeds"] == [2, 2]
    assert result["direction"] == direction_verdict(*result["ci"])
    assert result["ci"][0] <= result["ci_tost"][0] <= result["delta"] <= result["ci_tost"][1] <= result["ci"][1]
    with pytest.raises(ValueError, match="zul: 1 query ids differ"):
        macro_comparison(runs({"hau": [0.1, 0.2], "zul": [0.1]}), runs({"hau": [0.1, 0.2], "zul": [0.1, 0.3]}), 0.01)
    with pytest.raises(ValueError, match="languages"):
        macro_comparison(runs({"hau": [0.1]}), runs({"zul": [0.1]}), 0.01)
    with pytest.raises(ValueError, match="margin must be positive"):
        macro_comparison(close, ref, margin=0.0, n_resamples=100)


def test_every_stored_comparison_words_follow_its_intervals():
    """Every macro test in ``results/`` carries the two-part verdict of this module, and neither word contradicts
    its interval: the direction follows the 1 - α CI, the margin word the 1 - 2α one."""
    from pathlib import Path

    from optical.io import read_json

    checked = 0
    for path in sorted((Path(__file__).resolve().parents[1] / "results").rglob("*.json")):
        if "superseded" in path.parts or not isinstance(test := read_json(path).get("macro_test"), dict):
            continue
        assert test["direction"] == direction_verdict(*test["ci"]), path
        assert test["equivalence"] == equivalence_verdict(*test["ci_tost"], test["margin"]), path
        assert test["seed_correction"] and "verdict" not in test, f"{path}: a test made before the two-part verdict"
        checked += 1
    assert checked >= 20
