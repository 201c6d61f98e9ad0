"""Batched Sinkhorn (ours) vs a per-pair loop of POT's log-domain Sinkhorn, same inputs.

Prints one line: ``ratio=<POT time / ours> max_abs_diff=<max |transport cost difference|>`` and the settings.
Usage: ``python benchmarks/bench_sinkhorn.py [--batch 64 --n 32 --d 384 --epsilon 0.05 --tol 1e-6]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import ot
import torch

from optical.transport import cosine_cost, sinkhorn, uniform_marginal


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--d", type=int, default=384)
    p.add_argument("--epsilon", type=float, default=0.05)
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--max-iter", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, args.n, args.d, generator=gen)
    y = torch.randn(args.batch, args.n, args.d, generator=gen)
    cost = cosine_cost(x, y)
    mask = torch.ones(args.batch, args.n, dtype=torch.bool)
    a = b = uniform_marginal(mask)
    cost_np, a_np = cost.double().numpy(), a[0].double().numpy()

    ours = lambda: sinkhorn(cost, a, b, epsilon=args.epsilon, max_iter=args.max_iter, tol=args.tol,  # noqa: E731
                            grad="detach")
    pot = lambda: [ot.sinkhorn2(a_np, a_np, cost_np[k], args.epsilon, method="sinkhorn_log",  # noqa: E731
                                numItermax=args.max_iter, stopThr=args.tol) for k in range(args.batch)]
    ours(), pot()  # warm-up
    t_ours, t_pot = best_of(ours, args.repeats), best_of(pot, args.repeats)
    diff = np.abs(ours().cost.double().numpy() - np.array(pot(), dtype=np.float64)).max()
    print(f"ratio={t_pot / t_ours:.1f} max_abs_diff={diff:.2e} "
          f"(B={args.batch} n=m={args.n} d={args.d} eps={args.epsilon} tol={args.tol} ours={t_ours * 1e3:.1f}ms "
          f"pot_loop={t_pot * 1e3:.1f}ms threads={torch.get_num_threads()})")


if __name__ == "__main__":
    main()
