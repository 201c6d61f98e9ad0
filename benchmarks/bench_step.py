"""The trainer's own step (:func:`optical.train.training_step`) with the OT loss vs the KD-MSE loss, same batch.

Prints, per student (MiniLM, mE5-small) with and without frozen word embeddings, ``ratio=<OT step time / KD
step time>``, then each student's frozen/unfrozen step-time ratios, and the settings. Every step is what training
runs: the batch as the DataLoader's collate makes it (student features, teacher tokens read from the on-disk
teacher cache), the student forward, the loss, backward, clipping and the optimizer step, under the same
Accelerate engine.
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
    p.add_argument("--students", default="all-MiniLM-L6-v2,multilingual-e5-small")
    args = p.parse_args()

    bitext = [build_bitext(args.language).take(args.batch_size)]
    pairs, _ = bitext_pairs(bitext)
    steps = {}
    for student_name in args.students.split(","):
        for frozen in (False, True):
            for loss in ("ot", "kd"):
                config = config_from_dict({"loss": loss, "max_length": args.max_length, "student": student_name,
                                           "freeze_embeddings": frozen, "lr": 1e-9})  # the weights barely move
                accelerator = make_accelerator(config)
                c = build_components(config, bitext, 1000, accelerator.device)
                batch = Collate(c.student, c.cache, config.max_length, c.loss_fn.needs_student_en)(pairs)
                student, optimizer = accelerator.prepare(c.student, c.optimizer)
                steps[student_name, frozen, loss] = (student, c.loss_fn, [batch], optimizer, accelerator)

    def step(key: tuple) -> float:
        start = time.perf_counter()
        training_step(*steps[key][:4], None, steps[key][4])
        return time.perf_counter() - start

    for key in steps:
        step(key)  # warm-up
    times = {key: [] for key in steps}
    for _ in range(args.repeats):  # interleaved, so drifts in machine load hit every setting alike
        for key in steps:
            times[key].append(step(key))
    best = {key: min(t) for key, t in times.items()}
    for (student_name, frozen, loss), t in best.items():
        if loss == "ot":
            kd = best[student_name, frozen, "kd"]
            print(f"{student_name}{' (word embeddings frozen)' if frozen else ''}: ratio={t / kd:.2f} "
                  f"(OT step {t:.2f}s, KD-MSE step {kd:.2f}s)")
    for name in args.students.split(","):
        ratio = {loss: best[name, True, loss] / best[name, False, loss] for loss in ("ot", "kd")}
        print(f"{name}: frozen/unfrozen step time, OT {ratio['ot']:.2f}, KD {ratio['kd']:.2f}")
    print(f"batch={args.batch_size} max_length={args.max_length} lang={args.language} "
          f"threads={torch.get_num_threads()}")


if __name__ == "__main__":
    main()
