"""Standard knowledge-distillation baselines.

* :func:`mse_distillation_loss` — sentence-level KD of Reimers & Gurevych (2020): the pooled
  student embeddings of x_L and of x_en are both pulled to the pooled teacher embedding of x_en.
* :func:`contrastive_distillation_loss` — in-batch contrastive distillation (InfoNCE): the student's vector
  of x_L must pick the teacher's vector of its own translation among the batch's English sentences.
* :func:`hard_alignment_token_loss` — token-level KD with a hard plan (DR.DECR-style): each
  student token is matched to one teacher token by greedy one-to-one matching on cosine
  distance, then the matched vectors are pulled together with MSE.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from optical.config import KD_METRICS
from optical.transport import cosine_cost


def _sentence_distance(x: torch.Tensor, y: torch.Tensor, metric: str) -> torch.Tensor:
    if metric == "mse":
        return F.mse_loss(x, y)
    return (1.0 - F.cosine_similarity(x, y, dim=-1)).mean()


def _centred(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``(B, d)`` minus its mean over the batch."""
    return x - x.mean(0, keepdim=True)


def mse_distillation_loss(student_l: torch.Tensor, student_en: torch.Tensor | None,
                          teacher_en: torch.Tensor, metric: str = "mse", center: bool = False
                          ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``D(s(x_L), t(x_en)) + D(s(x_en), t(x_en))`` with D the MSE (mean over ``(B, d)`` elements, the
    original) or ``metric="cosine"``: the mean of ``1 - cos`` over the batch. ``center=True`` first subtracts
    each side's mean sentence vector over the batch (student and teacher each their own), so a shift common to the
    whole batch costs nothing: the KD analogue of OT's centred tokens.

    The MSE of two unit vectors is ``2 (1 - cos) / d``: ``d / 2`` (192 for MiniLM) times smaller than the cosine
    form, which is on the scale of the OT cost (``1 - cos`` averaged by the plan); mixing OT with KD-MSE at equal weights is OT.
    ``student_l``, ``student_en``, ``teacher_en``: ``(B, d)``. ``student_en=None`` drops the second term.
    Returns the loss and its detached parts (0-dim tensors: reading them is left to the logging step).
    """
    if metric not in KD_METRICS:
        raise ValueError(f"unknown KD metric {metric!r}; choose one of {KD_METRICS}")
    if center and teacher_en.shape[0] < 2:
        raise ValueError("KD with center=True needs a batch of at least 2 sentences (one is its own mean)")
    prepare = _centred if center else (lambda x: x)
    target = prepare(teacher_en.detach())
    parts = {"kd_l": _sentence_distance(prepare(student_l), target, metric)}
    if student_en is not None:
        parts["kd_en"] = _sentence_distance(prepare(student_en), target, metric)
    loss = sum(parts.values())
    return loss, {k: v.detach() for k, v in parts.items()} | {"kd": loss.detach()}


def contrastive_distillation_loss(student_l: torch.Tensor, teacher_en: torch.Tensor, temperature: float = 0.05
                                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """InfoNCE with in-batch negatives: cross-entropy of ``cos(s_i, t_j) / temperature`` over ``j`` with target
    ``j = i``, where ``s_i`` is the student's vector of ``x_L`` number ``i`` and ``t_j`` the teacher's (fixed)
    vector of English sentence ``j``. ``student_l``, ``teacher_en``: ``(B, d)``, ``B >= 2``.
    Also logs the in-batch top-1 accuracy (a detached 0-dim tensor)."""
    if student_l.shape[0] < 2:
        raise ValueError("contrastive KD needs a batch of at least 2 pairs (the other pairs are the negatives)")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    logits = F.normalize(student_l, dim=-1) @ F.normalize(teacher_en.detach(), dim=-1).T / temperature  # (B, B)
    target = torch.arange(logits.shape[0], device=logits.device)
    loss = F.cross_entropy(logits, target)
    accuracy = (logits.detach().argmax(-1) == target).float().mean()
    return loss, {"contrastive_kd": loss.detach(), "in_batch_top1": accuracy}


@torch.no_grad()
def greedy_matching(cost: torch.Tensor, row_mask: torch.Tensor, col_mask: torch.Tensor) -> torch.Tensor:
    """Greedy one-to-one matching: repeatedly take the cheapest pair of an unmatched row and column.

    ``cost`` ``(B, n, m)``, masks ``(B, n)`` / ``(B, m)``. Returns ``(B, n)`` long: the matched column
    of each row, or -1 (padding, or more rows than columns).
    """
    B, n, m = cost.shape
    inf = torch.finfo(cost.dtype).max
    c = cost.masked_fill(~(row_mask[:, :, None] & col_mask[:, None, :]), inf).clone()
    match = torch.full((B, n), -1, dtype=torch.long, device=cost.device)
    batch = torch.arange(B, device=cost.device)
    for _ in range(min(n, m)):  # a fixed count (no early exit): the loop never reads the device
        flat = c.flatten(1).argmin(1)
        i, j = flat // m, flat % m
        valid = c[batch, i, j] < inf
        match[batch[valid], i[valid]] = j[valid]
        c[batch[valid], i[valid], :] = inf
        c[batch[valid], :, j[valid]] = inf
    return match


def hard_alignment_token_loss(student: torch.Tensor, student_mask: torch.Tensor, teacher: torch.Tensor,
                              teacher_mask: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """MSE between each matched (student token, teacher token) pair, averaged over pairs and dims.

    ``student`` ``(B, n, d)``, ``teacher`` ``(B, m, d)``; matching by :func:`greedy_matching` on ``1 - cos``.
    """
    teacher = teacher.detach()
    match = greedy_matching(cosine_cost(student.detach().float(), teacher.float()), student_mask, teacher_mask)
    rows = match >= 0  # (B, n)
    matched = teacher.gather(1, match.clamp_min(0)[..., None].expand(-1, -1, teacher.shape[-1]))  # (B, n, d)
    squared = ((student - matched) ** 2).mean(-1)  # (B, n); masked sums instead of indexing: no host sync
    loss = (squared * rows).sum() / rows.sum().clamp_min(1)
    return loss, {"token_kd": loss.detach(), "matched_tokens": rows.sum()}


class MSEDistillationLoss(nn.Module):
    """Module form of :func:`mse_distillation_loss` on pooled outputs (``TokenOutput.pooled``); the English term
    (the student on ``x_en``) is part of the loss, so the trainer encodes it (:attr:`needs_student_en`)."""

    needs_student_en = True

    def __init__(self, metric: str = "mse", center: bool = False):
        super().__init__()
        if metric not in KD_METRICS:
            raise ValueError(f"unknown KD metric {metric!r}; choose one of {KD_METRICS}")
        self.metric, self.center = metric, center

    def forward(self, student_l, student_en, teacher_en) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return mse_distillation_loss(student_l.pooled, None if student_en is None else student_en.pooled,
                                     teacher_en.pooled, self.metric, self.center)


class ContrastiveDistillationLoss(nn.Module):
    """Module form of :func:`contrastive_distillation_loss` on pooled outputs."""

    needs_student_en = False

    def __init__(self, temperature: float = 0.05):
        super().__init__()
        self.temperature = temperature

    def forward(self, student_l, student_en, teacher_en) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return contrastive_distillation_loss(student_l.pooled, teacher_en.pooled, self.temperature)


class HardAlignmentTokenLoss(nn.Module):
    """Module form of :func:`hard_alignment_token_loss` on content tokens."""

    needs_student_en = False

    def forward(self, student_l, student_en, teacher_en) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return hard_alignment_token_loss(student_l.tokens, student_l.content_mask, teacher_en.tokens,
                                         teacher_en.content_mask)
