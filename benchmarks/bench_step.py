"""The trainer's own step (:func:`optical.train.training_step`) with the OT loss vs the KD-MSE loss, same batch.

Prints ``ratio=<OT step time / KD step time>`` and the settings. Both steps are what training runs: teacher
tokens from the teacher cache (filled by a warm-up step, as after the first epoch), the student forward(s),
the loss, backward, clipping and the optimizer step.
Usage: ``python benchmarks/bench_step.py [--batch-size 32 --max-length 64 --repeats 5]``.
"""

from __future__ import annotations

import argparse
import time

import torch

from optical.data.afriqa import build_bitext
from optical.losses import DistillationLoss
from optical.models import StudentQueryEncoder, Teacher, load_sentence_transformer
from optical.train import TeacherCache, training_step


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--language", default="hau")
    args = p.parse_args()

    bitext = build_bitext(args.language).take(args.batch_size)
    src, tgt = bitext.source, bitext.target
    teacher = Teacher("all-MiniLM-L6-v2", "cpu")
    cache = TeacherCache(teacher, args.max_length)
    student = StudentQueryEncoder(load_sentence_transformer("all-MiniLM-L6-v2", "cpu"), teacher.dim)
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-9)  # tiny lr: the weights barely move

    def step(loss_fn: DistillationLoss) -> float:
        start = time.perf_counter()
        training_step(student, loss_fn, cache, src, tgt, optimizer, None, args.max_length)
        return time.perf_counter() - start

    losses = {"ot": DistillationLoss("ot"), "kd": DistillationLoss("kd")}
    for fn in losses.values():
        step(fn)  # warm-up (fills the teacher cache)
    times = {name: [] for name in losses}
    for _ in range(args.repeats):  # interleaved, so drifts in machine load hit both alike
        for name, fn in losses.items():
            times[name].append(step(fn))
    t_ot, t_kd = min(times["ot"]), min(times["kd"])
    print(f"ratio={t_ot / t_kd:.2f} (OT step {t_ot:.2f}s, KD-MSE step {t_kd:.2f}s; batch={args.batch_size} "
          f"max_length={args.max_length} lang={args.language} threads={torch.get_num_threads()})")


if __name__ == "__main__":
    main()
