"""Optimal transport: costs and the batched log-domain Sinkhorn (named ``transport``, not ``ot``: that is POT)."""

from optical.transport.costs import COSTS, cosine_cost, informative_cost_sd, masked_mean, pairwise_cost, \
    sqeuclidean_cost, sqeuclidean_raw_cost, uniform_marginal, weighted_marginal
from optical.transport.sinkhorn import SinkhornResult, sinkhorn, sinkhorn_divergence

__all__ = ["COSTS", "SinkhornResult", "cosine_cost", "informative_cost_sd", "masked_mean", "pairwise_cost",
           "sinkhorn", "sinkhorn_divergence", "sqeuclidean_cost", "sqeuclidean_raw_cost", "uniform_marginal",
           "weighted_marginal"]
