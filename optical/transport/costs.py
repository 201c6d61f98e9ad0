"""Ground costs between batched token sets.

Shapes: ``x`` is ``(B, n, d)``, ``y`` is ``(B, m, d)``, the cost is ``(B, n, m)``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

CostName = Literal["cosine", "sqeuclidean"]


def cosine_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``C_ij = 1 - cos(x_i, y_j)`` in ``[0, 2]``; ``(B, n, d) x (B, m, d) -> (B, n, m)``."""
    return 1.0 - F.normalize(x, dim=-1) @ F.normalize(y, dim=-1).transpose(-1, -2)


def sqeuclidean_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``C_ij = ||x_i/|x_i| - y_j/|y_j| ||^2 = 2 (1 - cos)`` in ``[0, 4]``, on L2-normalised vectors."""
    return 2.0 * cosine_cost(x, y)


def sqeuclidean_raw_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``C_ij = ||x_i - y_j||^2`` on the vectors as they are (norms included): the cost that also constrains
    the mean-pooled vector, which cosine costs leave free; ``(B, n, d) x (B, m, d) -> (B, n, m)``."""
    return ((x * x).sum(-1)[:, :, None] + (y * y).sum(-1)[:, None, :] - 2.0 * x @ y.transpose(-1, -2)).clamp_min(0.0)


COSTS = {"cosine": cosine_cost, "sqeuclidean": sqeuclidean_cost, "sqeuclidean-raw": sqeuclidean_raw_cost}


def pairwise_cost(x: torch.Tensor, y: torch.Tensor, kind: CostName = "cosine") -> torch.Tensor:
    """Dispatch on the cost name; raises for an unknown name."""
    if kind not in COSTS:
        raise ValueError(f"unknown cost {kind!r}; choose one of {sorted(COSTS)}")
    return COSTS[kind](x, y)


def uniform_marginal(mask: torch.Tensor, validate: bool = True) -> torch.Tensor:
    """Uniform probability over the ``True`` entries of ``mask`` ``(B, n)``; zero mass on padding."""
    return weighted_marginal(mask, torch.ones_like(mask, dtype=torch.float32), validate)


def weighted_marginal(mask: torch.Tensor, weights: torch.Tensor, validate: bool = True) -> torch.Tensor:
    """``weights`` ``(B, n)`` restricted to ``mask`` and normalised to sum 1 per row.

    Raises if a row has no positive mass (an empty token set cannot be transported); ``validate=False`` skips
    that check (a host synchronisation) in the training step.
    """
    w = torch.where(mask, weights.float().clamp_min(0.0), torch.zeros((), device=weights.device))
    total = w.sum(-1, keepdim=True)
    if validate and bool((total <= 0).any()):
        rows = torch.nonzero(total.squeeze(-1) <= 0).flatten().tolist()
        raise ValueError(f"empty token set (no positive mass) in batch rows {rows[:5]}: is a text empty?")
    return w / total


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(d,)`` mean of the vectors of ``x`` ``(B, n, d)`` where ``mask`` ``(B, n)`` is set, over the whole batch."""
    m = mask[:, :, None].to(x.dtype)
    return (x * m).sum((0, 1)) / m.sum().clamp_min(1.0)


def informative_cost_sd(cost: torch.Tensor, row_mask: torch.Tensor, col_mask: torch.Tensor) -> torch.Tensor:
    r"""Standard deviation of the double-centred cost over the valid entries of the batch (a 0-d tensor).

    For each pair, :math:`\tilde C_{ij} = C_{ij} - \bar C_{i\cdot} - \bar C_{\cdot j} + \bar C` over the valid
    rows/columns. Adding a constant to a row or a column of ``C`` does not change the balanced OT plan, so
    :math:`\tilde C` is the part of the cost that decides the plan; ε is small or large relative to its sd.
    ``cost`` ``(B, n, m)``, masks ``(B, n)`` / ``(B, m)``.
    """
    valid = (row_mask[:, :, None] & col_mask[:, None, :]).to(cost.dtype)
    c = cost * valid
    n_rows, n_cols = valid.sum(2).clamp_min(1.0), valid.sum(1).clamp_min(1.0)  # (B, n), (B, m)
    row_mean = c.sum(2) / n_rows
    col_mean = c.sum(1) / n_cols
    grand = c.sum((1, 2)) / valid.sum((1, 2)).clamp_min(1.0)
    centred = (c - row_mean[:, :, None] - col_mean[:, None, :] + grand[:, None, None]) * valid
    return ((centred ** 2).sum() / valid.sum().clamp_min(1.0)).sqrt()
