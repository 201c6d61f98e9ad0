"""The trainer's own step (:func:`optical.train.training_step`) with the OT loss vs the KD-MSE loss, same batch.

Prints ``ratio=<OT step time / KD step time>`` and the settings. Both steps are what training runs: the batch as
the DataLoader's collate makes it (student features, teacher tokens read from the on-disk teacher cache), the
student forward, the loss, backward, clipping and the optimizer step, under the same Accelerate engine.
Usage: ``python benchmarks/bench_step.py [--batch-size 32 --max-length 64 --repeats 5]``.
"""

from __future__ import annotations

import argparse
import time

import torch

from optical.config import config_from_dict
from optical.data.afriqa import build_bitext
from optical.train import Collate, bitext_pairs, build_components, make_accelerator, training_step


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--language", default="hau")
    args = p.parse_args()

    bitext = [build_bitext(args.language).take(args.batch_size)]
    pairs, _ = bitext_pairs(bitext)
    steps = {}
    for loss in ("ot", "kd"):
        config = config_from_dict({"loss": loss, "max_length": args.max_length, "lr": 1e-9})  # the weights barely move
        accelerator = make_accelerator(config)
        c = build_components(config, bitext, 1000, accelerator.device)
        batch = Collate(c.student, c.cache, config.max_length, c.loss_fn.needs_student_en)(pairs)
        student, optimizer = accelerator.prepare(c.student, c.optimizer)
        steps[loss] = (student, c.loss_fn, [batch], optimizer, accelerator)

    def step(name: str) -> float:
        start = time.perf_counter()
        training_step(*steps[name][:4], None, steps[name][4])
        return time.perf_counter() - start

    for name in steps:
        step(name)  # warm-up
    times = {name: [] for name in steps}
    for _ in range(args.repeats):  # interleaved, so drifts in machine load hit both alike
        for name in steps:
            times[name].append(step(name))
    t_ot, t_kd = min(times["ot"]), min(times["kd"])
    print(f"ratio={t_ot / t_kd:.2f} (OT step {t_ot:.2f}s, KD-MSE step {t_kd:.2f}s; batch={args.batch_size} "
          f"max_length={args.max_length} lang={args.language} threads={torch.get_num_threads()})")


if __name__ == "__main__":
    main()
