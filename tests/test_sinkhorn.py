"""Batched log-domain Sinkhorn against POT, hand-made cases and gradcheck."""

import numpy as np
import ot
import pytest
import torch

from optical.transport import cosine_cost, sinkhorn, sqeuclidean_cost, uniform_marginal, weighted_marginal

D = torch.float64


def random_problem(rng, n, m, scale=2.0):
    c = rng.random((n, m)) * scale
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    return c, a / a.sum(), b / b.sum()


def pad_batch(problems):
    """Stack problems of different sizes, zero mass and garbage cost on padding."""
    n = max(p[0].shape[0] for p in problems)
    m = max(p[0].shape[1] for p in problems)
    C = torch.full((len(problems), n, m), 7.0, dtype=D)
    A, B = torch.zeros(len(problems), n, dtype=D), torch.zeros(len(problems), m, dtype=D)
    for k, (c, a, b) in enumerate(problems):
        C[k, : c.shape[0], : c.shape[1]] = torch.from_numpy(c)
        A[k, : len(a)], B[k, : len(b)] = torch.from_numpy(a), torch.from_numpy(b)
    return C, A, B


@pytest.mark.parametrize("seed", range(5))
def test_plan_and_cost_match_pot_on_padded_batch(seed):
    rng = np.random.default_rng(seed)
    problems = [random_problem(rng, int(rng.integers(1, 12)), int(rng.integers(1, 12))) for _ in range(6)]
    C, A, B = pad_batch(problems)
    res = sinkhorn(C, A, B, epsilon=0.1, max_iter=5000, tol=1e-12, grad="detach")
    assert torch.isfinite(res.plan).all() and torch.isfinite(res.f).all()
    for k, (c, a, b) in enumerate(problems):
        plan = ot.sinkhorn(a, b, c, 0.1, method="sinkhorn_log", numItermax=20000, stopThr=1e-14)
        n, m = c.shape
        np.testing.assert_allclose(res.plan[k, :n, :m].numpy(), plan, atol=1e-6)
        assert float(res.plan[k, n:].abs().sum() + res.plan[k, :, m:].abs().sum()) == 0.0
        assert res.cost[k].item() == pytest.approx(ot.sinkhorn2(a, b, c, 0.1, method="sinkhorn_log",
                                                                numItermax=20000, stopThr=1e-14), abs=1e-6)
        solved = ot.solve(c, a, b, reg=0.1, max_iter=20000, tol=1e-14)
        assert res.value[k].item() == pytest.approx(float(solved.value), abs=1e-6)


def test_batched_equals_loop_of_unpadded_solves():
    rng = np.random.default_rng(1)
    problems = [random_problem(rng, n, m) for n, m in [(3, 9), (10, 2), (5, 5), (1, 7)]]
    C, A, B = pad_batch(problems)
    batched = sinkhorn(C, A, B, epsilon=0.05, max_iter=3000, tol=1e-10, grad="detach")
    for k, (c, a, b) in enumerate(problems):
        single = sinkhorn(torch.from_numpy(c)[None], torch.from_numpy(a)[None], torch.from_numpy(b)[None],
                          epsilon=0.05, max_iter=3000, tol=1e-10, grad="detach")
        n, m = c.shape
        torch.testing.assert_close(batched.plan[k, :n, :m], single.plan[0], atol=1e-9, rtol=0)
        assert batched.cost[k].item() == pytest.approx(single.cost.item(), abs=1e-9)


def test_unbalanced_plan_matches_pot():
    rng = np.random.default_rng(2)
    c, a, b = random_problem(rng, 6, 8)
    res = sinkhorn(torch.from_numpy(c)[None], torch.from_numpy(a)[None], torch.from_numpy(b)[None], epsilon=0.1,
                   unbalanced=0.5, max_iter=5000, tol=1e-13, grad="detach")
    plan = ot.unbalanced.sinkhorn_unbalanced(a, b, c, 0.1, 0.5, numItermax=20000, stopThr=1e-15)
    np.testing.assert_allclose(res.plan[0].numpy(), plan, atol=1e-6)
    assert res.plan[0].sum().item() < 1.0  # mass is destroyed where transport is costly


def test_small_epsilon_approaches_exact_ot():
    rng = np.random.default_rng(3)
    c, a, b = random_problem(rng, 8, 8)
    exact = ot.emd2(a, b, c)
    res = sinkhorn(torch.from_numpy(c)[None], torch.from_numpy(a)[None], torch.from_numpy(b)[None], epsilon=1e-3,
                   max_iter=20000, tol=1e-9, eps_start=1.0, grad="detach")
    assert res.cost.item() == pytest.approx(exact, abs=5e-3)
    assert res.cost.item() >= exact - 1e-9  # no feasible plan is cheaper than the exact optimum


def test_known_permutation_is_recovered():
    n = 6
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    C = torch.ones(1, n, n, dtype=D)
    C[0, torch.arange(n), perm] = 0.0
    a = torch.full((1, n), 1.0 / n, dtype=D)
    res = sinkhorn(C, a, a.clone(), epsilon=0.01, max_iter=2000, tol=1e-12, grad="detach")
    expected = torch.zeros(n, n, dtype=D)
    expected[torch.arange(n), perm] = 1.0 / n
    torch.testing.assert_close(res.plan[0], expected, atol=1e-9, rtol=0)
    assert res.cost.item() == pytest.approx(0.0, abs=1e-9)


def test_epsilon_scaling_reaches_the_same_plan():
    rng = np.random.default_rng(4)
    C, A, B = pad_batch([random_problem(rng, 20, 20) for _ in range(3)])
    plain = sinkhorn(C, A, B, epsilon=0.01, max_iter=20000, tol=1e-8, grad="detach")
    scaled = sinkhorn(C, A, B, epsilon=0.01, max_iter=20000, tol=1e-8, eps_start=1.0, grad="detach")
    torch.testing.assert_close(plain.plan, scaled.plan, atol=1e-6, rtol=0)


def test_no_nan_for_tiny_epsilon_in_float32():
    torch.manual_seed(0)
    x = torch.randn(16, 12, 32, requires_grad=True)
    y = torch.randn(16, 9, 32)
    mx = torch.rand(16, 12) > 0.3
    my = torch.rand(16, 9) > 0.3
    mx[:, 0] = my[:, 0] = True
    cost = cosine_cost(x, y).detach()
    assert float(cost.min()) >= -1e-6 and float(cost.max()) <= 2 + 1e-6
    for eps in (1e-3, 1e-2, 0.05):
        for mode in ("envelope", "autodiff"):
            C = cosine_cost(x, y)
            res = sinkhorn(C, uniform_marginal(mx), uniform_marginal(my), epsilon=eps, grad=mode)
            for t in (res.plan, res.f, res.g, res.cost, res.value):
                assert torch.isfinite(t).all()
            (grad,) = torch.autograd.grad(res.cost.sum(), x)
            assert torch.isfinite(grad).all()


def _grad_problem(seed=0):
    rng = np.random.default_rng(seed)
    C, A, B = pad_batch([random_problem(rng, 4, 5), random_problem(rng, 3, 2)])
    return C.requires_grad_(True), A, B


def test_gradcheck_envelope_value():
    C, A, B = _grad_problem()
    fn = lambda c: sinkhorn(c, A, B, epsilon=0.5, max_iter=10000, tol=1e-14, grad="envelope").value  # noqa: E731
    assert torch.autograd.gradcheck(fn, (C,), eps=1e-6, atol=1e-6)


def test_gradcheck_autodiff_value_and_cost():
    C, A, B = _grad_problem(1)
    for attr in ("value", "cost"):
        fn = lambda c: getattr(sinkhorn(c, A, B, epsilon=0.5, max_iter=30, tol=0.0, grad="autodiff"), attr)  # noqa
        assert torch.autograd.gradcheck(fn, (C,), eps=1e-6, atol=1e-6)


def test_envelope_and_autodiff_gradients_agree_at_convergence():
    C, A, B = _grad_problem(2)
    grads = {}
    for mode in ("envelope", "autodiff"):
        res = sinkhorn(C, A, B, epsilon=0.3, max_iter=3000, tol=1e-13, grad=mode)
        (grads[mode],) = torch.autograd.grad(res.value.sum(), C)
    torch.testing.assert_close(grads["envelope"], grads["autodiff"], atol=1e-8, rtol=0)
    # the envelope gradient is the plan itself
    plan = sinkhorn(C, A, B, epsilon=0.3, max_iter=3000, tol=1e-13, grad="detach").plan
    torch.testing.assert_close(grads["envelope"], plan, atol=1e-12, rtol=0)


def test_detach_mode_has_no_graph():
    C, A, B = _grad_problem()
    res = sinkhorn(C, A, B, grad="detach")
    assert not res.cost.requires_grad and not res.plan.requires_grad


def test_float32_under_autocast():
    C, A, B = _grad_problem()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        res = sinkhorn(C.detach().to(torch.bfloat16), A.float(), B.float())
    assert res.plan.dtype == torch.float32


def test_costs_are_cosine_distances():
    x = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])
    y = torch.tensor([[[3.0, 0.0], [-1.0, 0.0], [1.0, 1.0]]])
    expected = torch.tensor([[[0.0, 2.0, 1 - 2 ** -0.5], [1.0, 1.0, 1 - 2 ** -0.5]]])
    torch.testing.assert_close(cosine_cost(x, y), expected)
    torch.testing.assert_close(sqeuclidean_cost(x, y), 2 * expected)


@pytest.mark.parametrize("bad, message", [
    (lambda C, A, B: (C, torch.zeros_like(A), B), "no positive entry"),
    (lambda C, A, B: (C, A * 2, B), "equal total mass"),
    (lambda C, A, B: (C[:, :, :-1], A, B), "shapes"),
    (lambda C, A, B: (C.masked_fill(torch.ones_like(C, dtype=torch.bool), float("nan")), A, B), "NaN"),
])
def test_bad_inputs_raise(bad, message):
    C, A, B = _grad_problem()
    with pytest.raises(ValueError, match=message):
        sinkhorn(*bad(C.detach(), A, B))


def test_marginals_from_masks_and_weights():
    mask = torch.tensor([[True, True, False], [True, False, False]])
    torch.testing.assert_close(uniform_marginal(mask), torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]]))
    w = torch.tensor([[1.0, 3.0, 9.0], [2.0, 5.0, 5.0]])
    torch.testing.assert_close(weighted_marginal(mask, w), torch.tensor([[0.25, 0.75, 0.0], [1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="empty token set"):
        uniform_marginal(torch.tensor([[False, False]]))


def test_without_checks_the_solver_runs_max_iter_and_never_reads_the_device():
    torch.manual_seed(0)
    cost = torch.rand(2, 4, 5, dtype=torch.float64)
    a, b = torch.full((2, 4), 0.25, dtype=torch.float64), torch.full((2, 5), 0.2, dtype=torch.float64)
    checked = sinkhorn(cost, a, b, 0.1, max_iter=400, tol=1e-12)
    fixed = sinkhorn(cost, a, b, 0.1, max_iter=400, check_every=0, validate=False)
    assert fixed.n_iter == 400 and torch.isnan(fixed.error)  # no check was made
    assert checked.error < 1e-10
    torch.testing.assert_close(fixed.plan, checked.plan, atol=1e-10, rtol=0)
