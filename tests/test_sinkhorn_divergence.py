"""Sinkhorn divergence against geomloss (values and gradients, padded batches), and the informative cost."""

import math

import numpy as np
import pytest
import torch

from optical.losses import ot_distillation_loss
from optical.transport import informative_cost_sd, sinkhorn_divergence, sqeuclidean_raw_cost

geomloss = pytest.importorskip("geomloss")
D = torch.float64
SIZES = [(6, 4), (3, 7), (1, 5), (8, 8)]


def half_sqeuclidean(x, y):
    """geomloss's default cost for p=2: ``|x - y|^2 / 2``."""
    return sqeuclidean_raw_cost(x, y) / 2


def problems(seed):
    rng = np.random.default_rng(seed)
    out = []
    for n, m in SIZES:
        x = torch.tensor(rng.normal(size=(n, 3)) * 0.5, dtype=D)
        y = torch.tensor(rng.normal(size=(m, 3)) * 0.5 + 0.3, dtype=D)
        a, b = torch.tensor(rng.random(n) + 0.1, dtype=D), torch.tensor(rng.random(m) + 0.1, dtype=D)
        out.append((x, y, a / a.sum(), b / b.sum()))
    return out


def padded(items):
    """Batch of padded point sets, garbage coordinates and zero mass on padding, leaves requiring grad."""
    n, m = max(len(p[0]) for p in items), max(len(p[1]) for p in items)
    X, Y = torch.full((len(items), n, 3), 5.0, dtype=D), torch.full((len(items), m, 3), -5.0, dtype=D)
    A, B = torch.zeros(len(items), n, dtype=D), torch.zeros(len(items), m, dtype=D)
    for k, (x, y, a, b) in enumerate(items):
        X[k, : len(x)], Y[k, : len(y)], A[k, : len(a)], B[k, : len(b)] = x, y, a, b
    return X.requires_grad_(), Y.requires_grad_(), A, B


def ours(X, Y, A, B, eps):
    value, _ = sinkhorn_divergence(half_sqeuclidean(X, Y), half_sqeuclidean(X, X), half_sqeuclidean(Y, Y), A, B,
                                   eps, max_iter=20000, tol=1e-13)
    return value


def geomloss_converged(x, y, a, b, eps, iterations=3000):
    """geomloss's own debiased Sinkhorn loop and cost, run at the target ε throughout (no ε-scaling), so
    that its potentials, and the gradients it builds from them, are converged."""
    from geomloss._legacy.sinkhorn_divergence import log_weights, sinkhorn_cost, sinkhorn_loop
    from geomloss._legacy.sinkhorn_samples import softmin_tensorized

    x, y, a, b = x[None], y[None], a[None], b[None]
    c_xy, c_yx = half_sqeuclidean(x, y.detach()), half_sqeuclidean(y, x.detach())
    c_xx, c_yy = half_sqeuclidean(x, x.detach()), half_sqeuclidean(y, y.detach())
    f_aa, g_bb, g_ab, f_ba = sinkhorn_loop(softmin_tensorized, log_weights(a), log_weights(b), c_xx, c_yy, c_xy,
                                           c_yx, [eps] * iterations, None, debias=True)
    return sinkhorn_cost(eps, None, a, b, f_aa, g_bb, g_ab, f_ba, batch=True, debias=True)[0]


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("eps", [0.25, 0.5])  # smaller ε needs a slower ε-scaling from SamplesLoss to reach 1e-5
def test_values_equal_geomloss_samplesloss_on_a_padded_batch(seed, eps):
    items = problems(seed)
    X, Y, A, B = padded(items)
    values = ours(X, Y, A, B, eps)
    loss = geomloss.SamplesLoss("sinkhorn", p=2, blur=math.sqrt(eps), debias=True, scaling=0.999,
                                backend="tensorized")
    for k, (x, y, a, b) in enumerate(items):
        assert values[k].item() == pytest.approx(loss(a, x, b, y).item(), abs=1e-5)


@pytest.mark.parametrize("eps", [0.1, 0.5])
def test_gradients_equal_geomloss_on_a_padded_batch(eps):
    items = problems(3)
    X, Y, A, B = padded(items)
    gx, gy = torch.autograd.grad(ours(X, Y, A, B, eps).sum(), [X, Y])
    for k, (x, y, a, b) in enumerate(items):
        x, y = x.clone().requires_grad_(), y.clone().requires_grad_()
        value = geomloss_converged(x, y, a, b, eps)
        assert ours(*padded([items[k]]), eps).item() == pytest.approx(value.item(), abs=1e-7)
        ref_x, ref_y = torch.autograd.grad(value, [x, y])
        torch.testing.assert_close(gx[k, : len(x)], ref_x, atol=1e-5, rtol=0)
        torch.testing.assert_close(gy[k, : len(y)], ref_y, atol=1e-5, rtol=0)
        assert float(gx[k, len(x):].abs().sum() + gy[k, len(y):].abs().sum()) == 0.0  # padding gets nothing


def test_divergence_is_zero_on_equal_measures_where_entropic_ot_is_not():
    x, _, a, _ = problems(0)[0]
    X, A = x[None], a[None]
    c = half_sqeuclidean(X, X)
    value, result = sinkhorn_divergence(c, c, c, A, A, 0.5, max_iter=5000, tol=1e-12)
    assert abs(value.item()) < 1e-9
    assert result.cost.item() > 0.01  # the entropic cost of a measure to itself: the bias removed


def test_unbalanced_divergence_is_refused():
    X, Y, A, B = padded(problems(0)[:1])
    c = half_sqeuclidean(X, Y)
    with pytest.raises(ValueError, match="balanced OT only"):
        sinkhorn_divergence(c, half_sqeuclidean(X, X), half_sqeuclidean(Y, Y), A, B, 0.1, unbalanced=1.0)


def test_informative_cost_sd_by_hand_and_invariance():
    c = torch.tensor([[[1.0, 2.0, 9.0], [3.0, 5.0, 9.0], [9.0, 9.0, 9.0]]])  # 2 x 2 valid, the rest padding
    rows, cols = torch.tensor([[True, True, False]]), torch.tensor([[True, True, False]])
    # double-centred [[1, 2], [3, 5]]: grand mean 2.75, row means 1.5/4, column means 2/3.5 -> +-0.25
    assert informative_cost_sd(c, rows, cols).item() == pytest.approx(0.25)
    shifted = c + torch.tensor([[[10.0], [-4.0], [0.0]]]) + torch.tensor([[[0.5, 7.0, 0.0]]])
    assert informative_cost_sd(shifted, rows, cols).item() == pytest.approx(0.25)  # row/column offsets removed


def test_relative_epsilon_centring_and_debias_options_of_the_loss():
    torch.manual_seed(0)
    s, t = torch.randn(3, 5, 8) + 2.0, torch.randn(3, 4, 8) + 2.0
    sm, tm = torch.ones(3, 5, dtype=torch.bool), torch.ones(3, 4, dtype=torch.bool)
    sm[0, 3:] = False
    _, parts, _ = ot_distillation_loss(s, sm, t, tm, epsilon_relative=0.5)
    assert parts["epsilon"] == pytest.approx(0.5 * parts["cost_sd"])
    # centring removes the common direction: the cosine cost changes, a cost on raw vectors does not move
    # relative to a constant shift of both sides
    plain, _, _ = ot_distillation_loss(s, sm, t, tm)
    centred, _, _ = ot_distillation_loss(s, sm, t, tm, center=True)
    assert centred.item() > plain.item() + 0.2
    shift = torch.randn(8)
    raw, _, _ = ot_distillation_loss(s, sm, t, tm, cost="sqeuclidean-raw", epsilon=1.0)
    moved, _, _ = ot_distillation_loss(s + shift, sm, t + shift, tm, cost="sqeuclidean-raw", epsilon=1.0)
    assert moved.item() == pytest.approx(raw.item(), rel=1e-4)
    debiased, _, _ = ot_distillation_loss(s, sm, s, sm, debias=True, epsilon=0.1)
    assert abs(debiased.item()) < 1e-4  # a sentence against itself: zero only when debiased
    biased, _, _ = ot_distillation_loss(s, sm, s, sm, epsilon=0.1)
    assert biased.item() > 1e-2
