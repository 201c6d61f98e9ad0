r"""OT distillation loss (OPTICAL): align student tokens of x_L to teacher tokens of x_en.

For pair ``k``: :math:`S \in \mathbb{R}^{n\times d}` student token embeddings of the L sentence,
:math:`T \in \mathbb{R}^{m\times d}` teacher token embeddings of its English translation (no grad),
:math:`C_{ij} = 1 - \cos(S_i, T_j)`, marginals :math:`a, b` over content tokens (uniform or
IDF-weighted), :math:`P^\star` the entropic plan (:func:`optical.transport.sinkhorn`), and

.. math:: \mathcal{L}_{OT} = \frac{1}{B}\sum_k \langle P^\star_k, C_k \rangle_F .

With ``grad="envelope"`` (default) :math:`P^\star` is a constant for back-propagation, which by
the envelope theorem is the gradient of the regularised OT cost with respect to :math:`C`.

Options for a fair comparison (each our choice, ablated on dev in `08_fair_test`): the debiased Sinkhorn divergence
instead of :math:`\langle P^\star, C\rangle`; ε set relative to the spread of the informative
(double-centred) cost; centring of both token spaces; a cost on raw (unnormalised) tokens.
"""

from __future__ import annotations

import torch
from torch import nn

from optical.transport import (informative_cost_sd, masked_mean, pairwise_cost, sinkhorn, sinkhorn_divergence,
                               uniform_marginal, weighted_marginal)
from optical.transport.sinkhorn import SinkhornResult


def ot_distillation_loss(
    student: torch.Tensor,
    student_mask: torch.Tensor,
    teacher: torch.Tensor,
    teacher_mask: torch.Tensor,
    student_weights: torch.Tensor | None = None,
    teacher_weights: torch.Tensor | None = None,
    cost: str = "cosine",
    epsilon: float = 0.05,
    epsilon_relative: float | None = None,
    center: bool = False,
    debias: bool = False,
    max_iter: int = 100,
    tol: float = 1e-4,
    check_every: int = 5,
    eps_start: float | None = None,
    unbalanced: float | None = None,
    grad: str = "envelope",
    validate: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], SinkhornResult]:
    """Mean transport cost (or Sinkhorn divergence) over the batch.

    Args:
        student: ``(B, n, d)`` student token embeddings; ``student_mask`` ``(B, n)`` marks tokens to transport.
        teacher: ``(B, m, d)`` teacher token embeddings; ``teacher_mask`` ``(B, m)``.
        student_weights, teacher_weights: optional ``(B, n)`` / ``(B, m)`` non-negative token weights
            (e.g. IDF); uniform over the mask when None.
        cost: ``cosine``, ``sqeuclidean`` (of normalised tokens) or ``sqeuclidean-raw`` (tokens as they are).
        epsilon: ε in cost units; ignored when ``epsilon_relative`` (κ) is set: then ε = κ · sd of the
            double-centred cost of the batch (:func:`optical.transport.informative_cost_sd`, no gradient).
        center: subtract each side's mean masked token over the batch (teacher's and student's own) first.
        debias: the Sinkhorn divergence instead of ⟨P, C⟩ (:func:`optical.transport.sinkhorn_divergence`).
        max_iter, tol, check_every, eps_start, unbalanced, grad: see :func:`optical.transport.sinkhorn`.
        validate: check the inputs and that the loss is finite (host synchronisations); off in the training
            step, where the trainer checks the loss at its logging steps.

    Returns:
        ``(loss, components, result)``: scalar loss; ``{"ot", "epsilon", "cost_sd", "plan_entropy",
        "sinkhorn_iters", "marginal_error"}`` as 0-dim tensors for logging; the α-β solver result (plans).
    """
    a = uniform_marginal(student_mask, validate) if student_weights is None \
        else weighted_marginal(student_mask, student_weights, validate)
    b = uniform_marginal(teacher_mask, validate) if teacher_weights is None \
        else weighted_marginal(teacher_mask, teacher_weights, validate)
    s, t = student.float(), teacher.detach().float()
    if center:
        s, t = s - masked_mean(s, student_mask), t - masked_mean(t, teacher_mask)
    c = pairwise_cost(s, t, cost)
    cost_sd = informative_cost_sd(c.detach(), a > 0, b > 0)
    if epsilon_relative is not None:
        if epsilon_relative <= 0:
            raise ValueError(f"epsilon_relative must be positive, got {epsilon_relative}")
        epsilon = epsilon_relative * cost_sd.clamp_min(1e-6)  # stays on the device
    options = dict(epsilon=epsilon, max_iter=max_iter, tol=tol, check_every=check_every, eps_start=eps_start,
                   unbalanced=unbalanced, grad=grad, validate=validate)
    if debias:
        with torch.no_grad():
            cost_tt = pairwise_cost(t, t, cost)
        values, result = sinkhorn_divergence(c, pairwise_cost(s, s, cost), cost_tt, a, b, **options)
    else:
        result = sinkhorn(c, a, b, **options)
        values = result.cost
    loss = values.mean()
    if validate and not torch.isfinite(loss):
        raise FloatingPointError("OT distillation loss is NaN or inf: check the inputs and epsilon")
    logs = {"ot": loss.detach(), "epsilon": torch.as_tensor(epsilon, device=loss.device), "cost_sd": cost_sd,
            "plan_entropy": plan_row_entropy(result.plan.detach(), a > 0, b > 0),
            "sinkhorn_iters": torch.tensor(result.n_iter), "marginal_error": result.error}
    return loss, logs, result


def plan_row_entropy(plan: torch.Tensor, row_mask: torch.Tensor, col_mask: torch.Tensor) -> torch.Tensor:
    """Mean normalised entropy of the plan's rows, each renormalised, over the valid rows of the batch:
    0 when each student token sends its mass to one teacher token, 1 when it spreads it uniformly.

    ``plan`` ``(B, n, m)``, masks ``(B, n)`` / ``(B, m)``; rows of a pair with one teacher token count as 0.
    """
    rows = plan / plan.sum(-1, keepdim=True).clamp_min(1e-30)
    entropy = -torch.xlogy(rows, rows).sum(-1)  # (B, n)
    log_m = col_mask.sum(-1, keepdim=True).clamp_min(2).float().log()  # (B, 1)
    valid = (row_mask & (col_mask.sum(-1, keepdim=True) > 1)).float()
    return (entropy / log_m * valid).sum() / valid.sum().clamp_min(1.0)  # 0 when no row is valid


class OTDistillationLoss(nn.Module):
    """Module form of :func:`ot_distillation_loss` holding its options (:meth:`OTConfig.loss_options`).

    ``forward(student_l, student_en, teacher_en)`` takes :class:`optical.models.TokenOutput` objects (``student_en``
    unused); ``content_only=False`` transports every real token ([CLS]/[SEP] included). ``validate`` is off:
    this is the training step's form, whose loss the trainer checks at its logging steps.
    """

    needs_student_en = False

    def __init__(self, content_only: bool = True, idf: "IDFWeights | None" = None, validate: bool = False,
                 **options):
        super().__init__()
        self.options = options | {"validate": validate}
        self.content_only, self.idf = content_only, idf

    def forward(self, student_l, student_en, teacher_en) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        s_mask = student_l.content_mask if self.content_only else student_l.attention_mask
        t_mask = teacher_en.content_mask if self.content_only else teacher_en.attention_mask
        s_w = t_w = None
        if self.idf is not None:
            s_w, t_w = self.idf.student(student_l.input_ids), self.idf.teacher(teacher_en.input_ids)
        loss, parts, _ = ot_distillation_loss(student_l.tokens, s_mask, teacher_en.tokens, t_mask, s_w, t_w,
                                              **self.options)
        return loss, parts


class IDFWeights:
    """Token IDF weights ``log((N + 1) / (df + 1)) + 1`` per side, from tokenised bitext.

    Our choice (the paper's body was not available): each side is weighted by the IDF of
    its own tokens, computed on that side of the training bitext (student side: L, teacher: English).
    """

    def __init__(self, student_ids: list[list[int]], teacher_ids: list[list[int]], vocab_size: int):
        self._student = self._idf(student_ids, vocab_size)
        self._teacher = self._idf(teacher_ids, vocab_size)

    @staticmethod
    def _idf(docs: list[list[int]], vocab_size: int) -> torch.Tensor:
        df = torch.zeros(vocab_size)
        for ids in docs:
            df[torch.tensor(sorted(set(ids)), dtype=torch.long)] += 1
        return torch.log((len(docs) + 1) / (df + 1)) + 1.0

    def student(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self._student.to(input_ids.device)[input_ids]

    def teacher(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self._teacher.to(input_ids.device)[input_ids]
