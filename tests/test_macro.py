"""The macro statistics (optical.eval.macro) against scipy and hand-computed cases."""

import numpy as np
import pytest
from scipy.stats import bootstrap, permutation_test

from optical.eval.macro import (equivalence_verdict, macro_bootstrap, macro_comparison, macro_delta,
                                macro_randomization)


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
    draws = macro_bootstrap(sys, ref, n_resamples=20_000)
    assert draws.mean() == pytest.approx(0.01, abs=0.002)
    assert set(np.round(np.unique(draws), 6)) == {-0.03, 0.01, 0.05}
    collapsed = runs({"hau": list(base + 0.01)})
    assert np.ptp(macro_bootstrap(collapsed, ref, n_resamples=1000)) < 1e-12


@pytest.mark.parametrize("interval, verdict", [((-0.005, 0.008), "equivalent"), ((-0.005, 0.02), "non-inferior"),
                                               ((0.012, 0.03), "better"), ((-0.03, -0.015), "worse"),
                                               ((-0.02, 0.005), "inconclusive")])
def test_equivalence_verdict(interval, verdict):
    assert equivalence_verdict(*interval, margin=0.01) == verdict


def test_comparison_reports_the_claim_and_rejects_bad_input():
    rng = np.random.default_rng(5)
    base = {lang: rng.random(150) for lang in ("hau", "zul")}
    ref = runs({k: list(v) for k, v in base.items()}, {k: list(v + 0.002) for k, v in base.items()})
    close = runs({k: list(v + 0.001) for k, v in base.items()}, {k: list(v + 0.003) for k, v in base.items()})
    result = macro_comparison(close, ref, margin=0.01, n_resamples=2000)
    assert result["verdict"] == "equivalent" and result["seeds"] == [2, 2]
    assert result["ci"][0] <= result["ci_tost"][0] <= result["delta"] <= result["ci_tost"][1] <= result["ci"][1]
    with pytest.raises(ValueError, match="zul: 1 query ids differ"):
        macro_comparison(runs({"hau": [0.1, 0.2], "zul": [0.1]}), runs({"hau": [0.1, 0.2], "zul": [0.1, 0.3]}), 0.01)
    with pytest.raises(ValueError, match="languages"):
        macro_comparison(runs({"hau": [0.1]}), runs({"zul": [0.1]}), 0.01)
    with pytest.raises(ValueError, match="margin must be positive"):
        macro_comparison(close, ref, margin=0.0, n_resamples=100)
