r"""Batched log-domain Sinkhorn for entropic optimal transport, with padding.

For each pair ``k`` of a batch, with cost :math:`C \in \mathbb{R}^{n\times m}` and
marginals :math:`a \in \Delta_n`, :math:`b \in \Delta_m` (zero mass on padding),
entropic OT solves

.. math::

    P^\star = \arg\min_{P \ge 0} \langle P, C\rangle + \varepsilon\,\mathrm{KL}(P \,\|\, a b^\top)
              + \rho\,\mathrm{KL}(P\mathbf{1} \,\|\, a) + \rho\,\mathrm{KL}(P^\top\mathbf{1} \,\|\, b)

where the last two terms are absent for balanced OT (:math:`\rho=\infty`, i.e.
:math:`P \in U(a, b)`). In the log domain the dual potentials :math:`f, g` are
updated with a soft-min (Séjourné et al. 2019; Peyré & Cuturi 2019, §4.4):

.. math::

    f_i \leftarrow -\lambda\,\varepsilon \log \sum_j b_j \exp\big((g_j - C_{ij})/\varepsilon\big),\quad
    g_j \leftarrow -\lambda\,\varepsilon \log \sum_i a_i \exp\big((f_i - C_{ij})/\varepsilon\big),

with :math:`\lambda = \rho/(\rho+\varepsilon)` (1 when balanced), and the plan is
:math:`P_{ij} = a_i b_j \exp((f_i + g_j - C_{ij})/\varepsilon)`. Working with
:math:`\log a` (``-inf`` on padding) means padded rows and columns carry no mass
and never produce ``inf - inf``; no NaN appears for :math:`\varepsilon` down to 1e-3.

Why three gradient modes: by the envelope theorem the gradient of the regularised
OT value :math:`W_\varepsilon(C)` with respect to :math:`C` is :math:`P^\star` itself,
so iterating without a graph (``envelope``) is exact at convergence and costs no
memory for the iterations; ``autodiff`` unrolls the iterations (exact for the
finite-iteration map, the ablation); ``detach`` returns constants (analysis).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

GradMode = Literal["envelope", "autodiff", "detach"]


@dataclass
class SinkhornResult:
    """Outcome of :func:`sinkhorn` for a batch of ``B`` problems.

    Attributes:
        plan: ``(B, n, m)`` transport plan :math:`P^\\star` (zero on padding).
        f, g: ``(B, n)``, ``(B, m)`` dual potentials (zero on padding).
        cost: ``(B,)`` transport cost :math:`\\langle P^\\star, C\\rangle_F`. In ``envelope`` mode its
            gradient w.r.t. ``C`` is :math:`P^\\star` (the plan held constant).
        value: ``(B,)`` regularised OT objective (the primal above at :math:`P^\\star`); in ``envelope``
            and ``autodiff`` modes its gradient w.r.t. ``C`` is exact at convergence.
        n_iter: iterations run at the target ε (after any ε-scaling steps).
        error: 0-dim tensor, the largest L1 marginal error :math:`\\|P\\mathbf{1} - a\\|_1` over the batch
            (balanced), or largest change of the potentials (unbalanced), at the last check; NaN when
            ``check_every=0`` (no check was made).
    """

    plan: torch.Tensor
    f: torch.Tensor
    g: torch.Tensor
    cost: torch.Tensor
    value: torch.Tensor
    n_iter: int
    error: torch.Tensor


def _half_step(log_w: torch.Tensor, h: torch.Tensor, kernel: torch.Tensor, lam: float, dim: int) -> torch.Tensor:
    """Scaled soft-min update ``-lam * logsumexp(log_w + h + K)`` over ``dim`` of ``K = -C/eps``.

    ``dim=2`` updates the row potential (reduces over columns), ``dim=1`` the column potential.
    """
    if dim == 2:
        return -lam * torch.logsumexp(kernel + (log_w + h)[:, None, :], dim=2)
    return -lam * torch.logsumexp(kernel + (log_w + h)[:, :, None], dim=1)


def _marginal_kl(r: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Generalised KL ``sum r log(r/q) - r + q`` over entries with ``q > 0`` (finite gradients on padding)."""
    valid = q > 0
    r_safe, q_safe = torch.where(valid, r, 1.0), torch.where(valid, q, 1.0)
    return torch.where(valid, torch.xlogy(r_safe, r_safe / q_safe) - r_safe + q_safe, 0.0).sum(-1)


def _check_inputs(cost: torch.Tensor, a: torch.Tensor, b: torch.Tensor, unbalanced: float | None) -> None:
    if cost.dim() != 3 or a.shape != cost.shape[:2] or b.shape != (cost.shape[0], cost.shape[2]):
        raise ValueError(f"shapes must be cost (B, n, m), a (B, n), b (B, m); got {tuple(cost.shape)}, "
                         f"{tuple(a.shape)}, {tuple(b.shape)}")
    if bool((a < 0).any()) or bool((b < 0).any()):
        raise ValueError("marginals must be non-negative")
    if bool(((a > 0).sum(-1) == 0).any()) or bool(((b > 0).sum(-1) == 0).any()):
        raise ValueError("a marginal has no positive entry: every pair needs at least one token on each side")
    if not bool(torch.isfinite(cost[(a > 0)[:, :, None] & (b > 0)[:, None, :]]).all()):
        raise ValueError("the cost has NaN or inf entries outside the padding")
    if unbalanced is None and not torch.allclose(a.sum(-1), b.sum(-1), rtol=1e-4, atol=1e-6):
        raise ValueError("balanced OT needs equal total mass in a and b (pass unbalanced=rho to relax)")


def _scaling_schedule(eps: float, eps_start: float | None, factor: float) -> list[float]:
    """ε values for annealing: ``eps_start, eps_start*factor, ...`` strictly above ``eps``."""
    if eps_start is None or eps_start <= eps:
        return []
    steps = math.ceil(math.log(eps_start / eps) / math.log(1.0 / factor))
    return [eps_start * factor**k for k in range(steps) if eps_start * factor**k > eps]


def sinkhorn(
    cost: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    epsilon: float | torch.Tensor = 0.05,
    max_iter: int = 100,
    tol: float = 1e-4,
    check_every: int = 5,
    eps_start: float | None = None,
    eps_factor: float = 0.5,
    unbalanced: float | None = None,
    grad: GradMode = "envelope",
    validate: bool = True,
) -> SinkhornResult:
    """Solve ``B`` entropic OT problems at once in the log domain.

    Args:
        cost: ``(B, n, m)`` ground cost; entries at padding are ignored.
        a, b: ``(B, n)``, ``(B, m)`` marginals; zero entries mark padding. Balanced OT needs equal sums.
        epsilon: entropic regularisation ε (in the units of the cost): a number, or a 0-dim tensor (e.g. set
            from the batch's cost on the device, read on the host only when ε-scaling needs its schedule).
        max_iter: maximum iterations at the target ε.
        tol: stop when the error (see :class:`SinkhornResult`) is below ``tol`` for every pair.
        check_every: iterations between error checks (a check costs one plan evaluation and one host
            synchronisation); ``0`` runs ``max_iter`` iterations without any check (no synchronisation).
        eps_start: if set, ε-scaling: one iteration at each of ``eps_start * eps_factor**k`` (> ε) first.
        unbalanced: ρ of the KL-relaxed marginals; ``None`` is balanced OT.
        grad: ``"envelope"`` (default), ``"autodiff"`` or ``"detach"`` — see the module docstring.
        validate: check shapes, masses and finiteness first (each check reads the device); the training step
            turns it off after the public entry points have been tested with it on.

    Computation runs in float32 (float64 when given float64), with autocast disabled.
    """
    if grad not in ("envelope", "autodiff", "detach"):
        raise ValueError(f"unknown grad mode {grad!r}; choose envelope, autodiff or detach")
    if not torch.is_tensor(epsilon) and epsilon <= 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    dtype = torch.float64 if cost.dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=cost.device.type, enabled=False):
        cost, a, b = cost.to(dtype), a.to(dtype), b.to(dtype)
        if validate:
            _check_inputs(cost.detach(), a, b, unbalanced)
        mask = (a > 0)[:, :, None] & (b > 0)[:, None, :]
        cost = torch.where(mask, cost, torch.zeros((), dtype=dtype, device=cost.device))
        log_a, log_b = a.log(), b.log()  # -inf on padding
        lam = 1.0 if unbalanced is None else unbalanced / (unbalanced + epsilon)

        iter_cost = cost if grad == "autodiff" else cost.detach()
        with torch.set_grad_enabled(grad == "autodiff" and torch.is_grad_enabled()):
            # scaled potentials u = f/eps, v = g/eps against the kernel K = -C/eps (computed once per eps)
            u, v = torch.zeros_like(a), torch.zeros_like(b)
            prev_eps = None
            schedule = _scaling_schedule(float(epsilon), eps_start, eps_factor) if eps_start is not None else []
            for eps in schedule + [epsilon]:
                if prev_eps is not None:
                    u, v = u * (prev_eps / eps), v * (prev_eps / eps)
                kernel = -iter_cost / eps
                u = _half_step(log_b, v, kernel, lam, dim=2)
                v = _half_step(log_a, u, kernel, lam, dim=1)
                prev_eps = eps
            error, n_iter = torch.full((), float("nan"), device=cost.device), 1
            while n_iter < max_iter:
                # the next row update also measures the row-marginal error of the current (u, v):
                # sum_j P_ij = a_i exp(u_i - u_next_i) when balanced
                u_next = _half_step(log_b, v, kernel, lam, dim=2)
                if check_every and n_iter % check_every == 0:
                    with torch.no_grad():
                        if unbalanced is None:
                            error = (a * torch.expm1(u - u_next)).abs().sum(-1).max()
                        else:
                            error = (epsilon * torch.where(a > 0, u_next - u, 0.0)).abs().max()
                    if error < tol:
                        break
                u = u_next
                v = _half_step(log_a, u, kernel, lam, dim=1)
                n_iter += 1
            u, v = torch.where(a > 0, u, 0.0), torch.where(b > 0, v, 0.0)
            plan = (log_a[:, :, None] + log_b[:, None, :] + u[:, :, None] + v[:, None, :] + kernel).exp()
            f, g = epsilon * u, epsilon * v

        if grad == "detach":
            plan, f, g = plan.detach(), f.detach(), g.detach()
            cost = cost.detach()
        transport = (plan * cost).sum((1, 2))
        # eps * KL(P | a b^T), using log(P_ij / (a_i b_j)) = (f_i + g_j - C_ij) / eps on the support: finite
        # everywhere, so autodiff never meets d(p log p)/dp = -inf at p = 0. Constant in envelope mode.
        log_ratio = (f[:, :, None] + g[:, None, :] - iter_cost) / epsilon
        ab = a[:, :, None] * b[:, None, :]
        reg = epsilon * torch.where(mask, plan * log_ratio - plan + ab, 0.0).sum((1, 2))
        if unbalanced is not None:
            reg = reg + unbalanced * (_marginal_kl(plan.sum(2), a) + _marginal_kl(plan.sum(1), b))
        return SinkhornResult(plan, f, g, transport, transport + reg, n_iter, error)


def sinkhorn_divergence(cost_xy: torch.Tensor, cost_xx: torch.Tensor, cost_yy: torch.Tensor, a: torch.Tensor,
                        b: torch.Tensor, epsilon: float = 0.05, **options) -> tuple[torch.Tensor, SinkhornResult]:
    r"""Debiased entropic OT (Feydy et al., AISTATS 2019): ``(divergence (B,), the α-β SinkhornResult)``.

    .. math:: S_\varepsilon(\alpha, \beta) = \mathrm{OT}_\varepsilon(\alpha, \beta)
              - \tfrac12 \mathrm{OT}_\varepsilon(\alpha, \alpha) - \tfrac12 \mathrm{OT}_\varepsilon(\beta, \beta)

    with :math:`\mathrm{OT}_\varepsilon` the regularised value (:attr:`SinkhornResult.value`). Unlike the
    entropic cost it is zero when :math:`\alpha = \beta`, so it does not pull the points of a measure
    towards each other (the entropic bias that makes tokens interchangeable at large ε).

    ``cost_xy`` ``(B, n, m)``, ``cost_xx`` ``(B, n, n)``, ``cost_yy`` ``(B, m, m)``; ``a`` ``(B, n)``, ``b``
    ``(B, m)`` with zeros on padding; ``options`` go to :func:`sinkhorn` (balanced only). Gradients follow
    the three problems' ``grad`` mode (envelope by default, exact at convergence).
    """
    if options.get("unbalanced") is not None:
        raise ValueError("the Sinkhorn divergence is implemented for balanced OT only (unbalanced=None)")
    xy = sinkhorn(cost_xy, a, b, epsilon, **options)
    xx = sinkhorn(cost_xx, a, a, epsilon, **options).value
    yy = sinkhorn(cost_yy, b, b, epsilon, **options).value
    return xy.value - 0.5 * (xx + yy), xy
