"""Training-free maps (optical.transport.linear_maps) against POT, scipy and hand-made cases."""

import numpy as np
import ot
import pytest
from scipy.stats import special_ortho_group

from optical.transport.linear_maps import MAPS, fit_map, gaussian_ot_map, ridge_scale, well_posed_without_ridge


def random_spd(rng, d):
    m = rng.normal(size=(d, d))
    return m @ m.T / d + 0.1 * np.eye(d)


def test_gaussian_map_equals_pots_closed_form():
    rng = np.random.default_rng(0)
    d = 6
    mu_s, mu_t, cov_s, cov_t = rng.normal(size=d), rng.normal(size=d), random_spd(rng, d), random_spd(rng, d)
    ours = gaussian_ot_map(mu_s, cov_s, mu_t, cov_t)
    a, b = ot.gaussian.bures_wasserstein_mapping(mu_s, mu_t, cov_s, cov_t)
    np.testing.assert_allclose(ours.A, a, atol=1e-8)
    np.testing.assert_allclose(ours.b, np.ravel(b), atol=1e-8)


def test_gaussian_map_moves_one_gaussian_onto_the_other():
    rng = np.random.default_rng(1)
    d = 5
    mu_s, mu_t, cov_s, cov_t = rng.normal(size=d), rng.normal(size=d), random_spd(rng, d), random_spd(rng, d)
    m = gaussian_ot_map(mu_s, cov_s, mu_t, cov_t)
    np.testing.assert_allclose(mu_s @ m.A + m.b, mu_t, atol=1e-10)  # the mean goes to the mean
    np.testing.assert_allclose(m.A.T @ cov_s @ m.A, cov_t, atol=1e-10)  # and the covariance to the covariance
    # fit on samples: the mapped cloud has the target's moments (up to the regularisation)
    xs = rng.multivariate_normal(mu_s, cov_s, size=4000)
    xt = rng.multivariate_normal(mu_t, cov_t, size=4000)
    mapped = fit_map("gaussian-ot", xs, xt, reg=0.0)(xs)
    np.testing.assert_allclose(mapped.mean(0), xt.mean(0), atol=1e-10)
    np.testing.assert_allclose(np.cov(mapped, rowvar=False), np.cov(xt, rowvar=False), atol=1e-8)


def test_procrustes_recovers_a_known_rotation_and_the_centred_one_its_offset():
    rng = np.random.default_rng(2)
    rotation = special_ortho_group.rvs(8, random_state=3)
    x = rng.normal(size=(50, 8))
    np.testing.assert_allclose(fit_map("procrustes", x, x @ rotation).A, rotation, atol=1e-10)
    shift = rng.normal(size=8)
    m = fit_map("procrustes-centred", x, x @ rotation + shift)
    np.testing.assert_allclose(m.A, rotation, atol=1e-10)
    np.testing.assert_allclose(m(x), x @ rotation + shift, atol=1e-10)


def test_least_squares_and_mean_shift_by_hand():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(200, 4))
    a, b = rng.normal(size=(4, 4)), rng.normal(size=4)
    np.testing.assert_allclose(fit_map("lstsq-centred", x, x @ a + b, reg=0.0)(x), x @ a + b, atol=1e-10)
    np.testing.assert_allclose(fit_map("lstsq", x, x @ a, reg=0.0).A, a, atol=1e-10)
    # x - mu_L + mu_en on a hand-made pair of clouds
    m = fit_map("mean-shift", np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([[1.0, 1.0], [1.0, 3.0]]))
    np.testing.assert_allclose(m(np.array([[5.0, 5.0]])), [[5.0, 7.0]])


def test_fewer_pairs_than_dimensions_need_regularisation_and_bad_input_is_named():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(10, 32)), rng.normal(size=(10, 32))
    with pytest.raises(ValueError, match="singular"):
        fit_map("gaussian-ot", x, y, reg=0.0)
    for kind in MAPS:
        assert np.isfinite(fit_map(kind, x, y, reg=1e-3)(x)).all()
    with pytest.raises(ValueError, match="unknown map"):
        fit_map("affine", x, y)
    with pytest.raises(ValueError, match="paired"):
        fit_map("lstsq", x, y[:5])
    with pytest.raises(ValueError, match="dimension 32"):
        fit_map("identity", x, y)(np.ones((2, 3)))


@pytest.mark.parametrize("kind", ["lstsq", "lstsq-centred", "gaussian-ot"])
def test_a_relative_ridge_gives_the_same_map_whatever_the_scale_of_the_vectors(kind):
    """An encoder whose vectors are c times smaller (both sides) has every matrix a ridge is added to c² times
    smaller: a ridge relative to :func:`ridge_scale` follows it (the mapped queries are c times the others), a fixed
    absolute one does not."""
    rng = np.random.default_rng(3)
    x, y, queries = rng.normal(size=(40, 8)), rng.normal(size=(40, 8)), rng.normal(size=(5, 8))
    x[:, 0] *= 0.01  # one weak direction, where the ridge matters
    c = 0.05
    same = [fit_map(kind, s * x, s * y, 0.1 * ridge_scale(kind, s * x))(s * queries) / s for s in (1.0, c)]
    np.testing.assert_allclose(same[0], same[1], atol=1e-8)
    fixed = [fit_map(kind, s * x, s * y, 0.1 * ridge_scale(kind, x))(s * queries) / s for s in (1.0, c)]
    assert not np.allclose(fixed[0], fixed[1], atol=1e-3)
    # the scale is the mean eigenvalue of the covariance (centred maps) or of XᵀX/n (lstsq)
    moment = x.T @ x / len(x) if kind == "lstsq" else np.cov(x, rowvar=False, bias=True)
    assert ridge_scale(kind, x) == pytest.approx(np.trace(moment) / 8)
    with pytest.raises(ValueError, match="has no ridge"):
        ridge_scale("procrustes", x)


def test_without_a_ridge_a_map_is_posed_only_with_more_pairs_than_dimensions():
    assert well_posed_without_ridge("lstsq", 385, 384) and not well_posed_without_ridge("lstsq", 384, 384)
    assert not well_posed_without_ridge("gaussian-ot", 385, 384)  # a covariance of n pairs has rank n - 1
    assert well_posed_without_ridge("gaussian-ot", 386, 384) and well_posed_without_ridge("procrustes", 3, 384)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 8))
    with pytest.raises(np.linalg.LinAlgError):
        fit_map("lstsq", x, x, reg=0.0)  # what the dev grid leaves out
