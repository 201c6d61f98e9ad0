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


COSTS = {"cosine": cosine_cost, "sqeuclidean": sqeuclidean_cost}


def pairwise_cost(x: torch.Tensor, y: torch.Tensor, kind: CostName = "cosine") -> torch.Tensor:
    """Dispatch on the cost name; raises for an unknown name."""
    if kind not in COSTS:
        raise ValueError(f"unknown cost {kind!r}; choose one of {sorted(COSTS)}")
    return COSTS[kind](x, y)


def uniform_marginal(mask: torch.Tensor) -> torch.Tensor:
    """Uniform probability over the ``True`` entries of ``mask`` ``(B, n)``; zero mass on padding."""
    return weighted_marginal(mask, torch.ones_like(mask, dtype=torch.float32))


def weighted_marginal(mask: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``weights`` ``(B, n)`` restricted to ``mask`` and normalised to sum 1 per row.

    Raises if a row has no positive mass (an empty token set cannot be transported).
    """
    w = torch.where(mask, weights.float().clamp_min(0.0), torch.zeros((), device=weights.device))
    total = w.sum(-1, keepdim=True)
    if bool((total <= 0).any()):
        rows = torch.nonzero(total.squeeze(-1) <= 0).flatten().tolist()
        raise ValueError(f"empty token set (no positive mass) in batch rows {rows[:5]}: is a text empty?")
    return w / total
