"""Optimal transport: costs and the batched log-domain Sinkhorn (named ``transport``, not ``ot``: that is POT)."""

from optical.transport.costs import cosine_cost, pairwise_cost, sqeuclidean_cost, uniform_marginal, weighted_marginal
from optical.transport.sinkhorn import SinkhornResult, sinkhorn

__all__ = ["SinkhornResult", "cosine_cost", "pairwise_cost", "sinkhorn", "sqeuclidean_cost", "uniform_marginal",
           "weighted_marginal"]
