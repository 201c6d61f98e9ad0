"""Distillation trainer on Hugging Face Accelerate: a frozen teacher, a student query encoder, bitext, one loss.

The same code runs on one CPU, one GPU, or several GPUs under ``accelerate launch`` (DDP), with bf16 autocast on a
GPU, gradient accumulation and DataLoader workers that tokenise. Pieces, each with one job:

* :func:`build_components` — teacher, on-disk teacher token cache, student (projection fitted), loss, optimizer,
  schedule: built in one place.
* :class:`PairBatches` and :class:`Collate` — the data order (a function of ``(seed, epoch, step)``, so a resumed
  run sees the same batches) and the batch features, made in DataLoader workers.
* :func:`training_step` — forward, backward and optimizer step on one global batch; what the benchmark times.
* :func:`train` — the loop: steps, logging, dev evaluation through a callback, checkpoints
  (:class:`optical.checkpoint.Checkpointer`), the saved student and its card (:mod:`optical.provenance`).

Replays of committed runs live in :mod:`optical.replay`.

Why not sentence-transformers' trainer: the OT and token-KD losses need token-level outputs of two different
models on two different texts, and teacher outputs are cached on disk across epochs and runs.

Sharding: each global batch of ``batch_size`` pairs is cut into ``processes x grad_accum`` contiguous micro-batches;
process ``r`` takes micro-batches ``r * grad_accum ...``; each micro-batch loss is divided by ``grad_accum`` and DDP
averages over processes, so with equal micro-batches the gradient is the one of the whole batch (losses that are
means over pairs: KD, OT; batch statistics such as ``epsilon_relative`` or ``center`` are per micro-batch).

Host synchronisation: the step never reads the device (losses log tensors, the solver's checks can be off with
``check_every: 0``); logs are read, averaged over processes and checked for NaN every ``log_every`` steps.

Disk: a run keeps at most one checkpoint (written atomically, so briefly two) and deletes it once the student is
saved (with mE5 a checkpoint with its Adam moments is about 1.4 GB).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from optical.checkpoint import Checkpointer
from optical.config import TrainConfig
from optical.data.schema import Bitext
from optical.io import atomic_write_text, read_json
from optical.losses import DistillationLoss, IDFWeights
from optical.models import (
    STUDENT_CARD,
    StudentQueryEncoder,
    Teacher,
    TokenOutput,
    load_sentence_transformer,
)
from optical.provenance import refuse_other_run, save_student, student_card
from optical.teacher_cache import TeacherTokenCache

log = logging.getLogger(__name__)

PROJECTION_FIT_TEXTS = 4000
"""Bitext sentences (or pairs) used to fit the ``lstsq`` projection (training data only)."""


@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    best_dev: float | None
    dev_history: list[dict] = field(default_factory=list)
    wall_s: float = 0.0
    attempt_wall_s: float | None = None
    resumed_from: int = 0


def bitext_pairs(bitext: list[Bitext]) -> tuple[list[tuple[str, str]], list[int]]:
    """All ``(L sentence, English sentence)`` pairs of ``bitext`` and their lengths (for length bucketing)."""
    pairs = [(s, t) for b in bitext for s, t in zip(b.source, b.target)]
    if not pairs:
        raise ValueError("no training pairs: the bitext is empty")
    return pairs, [max(len(src), len(tgt)) for src, tgt in pairs]


def epoch_batches(lengths: list[int], batch_size: int, seed: int, epoch: int, bucket: int = 50) -> list[list[int]]:
    """Length-bucketed batches of one epoch, a deterministic function of ``(seed, epoch)``.

    The pairs are shuffled, cut into chunks of ``bucket * batch_size``, sorted by length inside each
    chunk and split into batches, whose order is shuffled again. Batches of short questions then
    are not padded to the length of a news sentence (about 3x fewer tokens on AfriQA bitext).
    """
    rng = random.Random(seed * 100003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = bucket * batch_size
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: lengths[i])
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


class PairBatches(torch.utils.data.Sampler):
    """Batch sampler of one process: for each step in ``[start, total)``, its ``grad_accum`` micro-batches of
    the step's global batch (:func:`epoch_batches`), cut into ``processes x grad_accum`` contiguous parts."""

    def __init__(self, lengths: list[int], config: TrainConfig, start: int, total: int, rank: int = 0,
                 processes: int = 1):
        self.lengths, self.config, self.start, self.total = lengths, config, start, total
        self.rank, self.parts = rank, processes * config.grad_accum
        self.steps_per_epoch = len(epoch_batches(lengths, config.batch_size, config.seed, 0))
        smallest = min(len(b) for b in epoch_batches(lengths, config.batch_size, config.seed, 0))
        if smallest < self.parts:
            raise ValueError(f"a batch of {smallest} pairs cannot be cut into {processes} processes x grad_accum "
                             f"{config.grad_accum} micro-batches: lower grad_accum or the number of processes")

    def __len__(self) -> int:
        return (self.total - self.start) * self.config.grad_accum

    def __iter__(self) -> Iterator[list[int]]:
        epoch, batches = None, None
        for step in range(self.start, self.total):
            e, offset = divmod(step, self.steps_per_epoch)
            if e != epoch:
                epoch, batches = e, epoch_batches(self.lengths, self.config.batch_size, self.config.seed, e)
            parts = np.array_split(np.asarray(batches[offset]), self.parts)
            yield from (p.tolist() for p in parts[self.rank * self.config.grad_accum:
                                                    (self.rank + 1) * self.config.grad_accum])


@dataclass
class PairBatch:
    """One micro-batch of ``n`` pairs: student features of the ``n`` L sentences, followed by their ``n`` English
    sentences when the loss needs the student on them (one forward, so that DDP sees one graph per step), and the
    teacher's token outputs of the English side (CPU until the step moves them)."""

    features: dict
    n: int
    teacher: TokenOutput

    def student_outputs(self, student) -> tuple[TokenOutput, TokenOutput | None]:
        """The student on the L side, and on the English side (or None)."""
        out = student(self.features)
        return out.rows(0, self.n), out.rows(self.n, 2 * self.n) if out.tokens.shape[0] > self.n else None


class Collate:
    """Pairs -> :class:`PairBatch`: tokenises for the student and reads the teacher cache (in DataLoader workers
    when ``num_workers > 0``)."""

    def __init__(self, student: StudentQueryEncoder, cache: TeacherTokenCache, max_length: int, with_english: bool):
        self.model, self.cache, self.max_length, self.with_english = student.model, cache, max_length, with_english

    def __call__(self, pairs: list[tuple[str, str]]) -> PairBatch:
        from optical.models import tokenize
        from optical.teacher_cache import pad_token_rows

        src, tgt = [p[0] for p in pairs], [p[1] for p in pairs]
        texts = src + tgt if self.with_english else src
        return PairBatch(tokenize(self.model, texts, self.max_length), len(pairs), pad_token_rows(self.cache.rows(tgt)))


def bitext_idf(bitext: list[Bitext], student, teacher: Teacher) -> IDFWeights:
    src = [p for b in bitext for p in b.source]
    tgt = [p for b in bitext for p in b.target]
    s_ids = student.model.tokenizer(src, truncation=True, max_length=512)["input_ids"]
    t_ids = teacher.model.tokenizer(tgt, truncation=True, max_length=512)["input_ids"]
    vocab = max(len(student.model.tokenizer), len(teacher.model.tokenizer))
    return IDFWeights(s_ids, t_ids, vocab)


def component_grad_norms(student: StudentQueryEncoder, loss_fn: DistillationLoss, batch: PairBatch
                          ) -> dict[str, float]:
    """L2 norm of each unweighted loss component's gradient on ``batch`` (how the components compare in scale
    before any weighting); the torch RNG state is restored, so training is unchanged."""
    rng = torch.get_rng_state()
    device = next(student.parameters()).device
    values, _ = loss_fn.components(*batch.student_outputs(student), batch.teacher.to(device))
    params = [p for p in student.parameters() if p.requires_grad]
    norms = {}
    for name, value in values.items():
        grads = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
        norms[name] = float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)))
    torch.set_rng_state(rng)
    return norms


@dataclass
class Components:
    """Everything a run trains with, built by :func:`build_components`."""

    teacher: Teacher
    cache: TeacherTokenCache
    student: StudentQueryEncoder
    loss_fn: DistillationLoss
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler


def build_components(config: TrainConfig, bitext: list[Bitext], total_steps: int, device: str | torch.device,
                     teacher: Teacher | None = None, cache: TeacherTokenCache | None = None,
                     fit_projection: bool = True) -> Components:
    """The teacher (and its token cache, with every English sentence of ``bitext`` prepared), the student (its
    projection fitted on the bitext as ``projection_fit`` says, when ``projection: lstsq`` and ``fit_projection``),
    the loss (only the named components; IDF marginals from the bitext), AdamW and the linear warm-up/decay
    schedule."""
    from transformers import get_linear_schedule_with_warmup

    teacher = teacher or Teacher(config.teacher, str(device))
    cache = cache or TeacherTokenCache(teacher, config.max_length)
    english = list(dict.fromkeys(t for b in bitext for t in b.target))
    cache.prepare(english)
    student = StudentQueryEncoder(load_sentence_transformer(config.student or config.teacher, str(device)),
                                  teacher.dim, project=config.projection == "lstsq")
    frozen = student.freeze_unused_parameters()
    if frozen:
        log.info("parameters no output depends on, frozen: %s", frozen)
    if config.freeze_embeddings:
        log.info("word embeddings frozen: %d parameters", student.freeze_word_embeddings())
    if config.projection == "lstsq" and fit_projection:
        if config.projection_fit == "pairs":  # the L sentence onto its translation: what a query needs
            pairs = [(s, t) for b in bitext for s, t in zip(b.source, b.target)][:PROJECTION_FIT_TEXTS]
            fit, english_side = [s for s, _ in pairs], [t for _, t in pairs]
        else:  # the English side onto itself: what the student already shares with the teacher
            fit = english_side = english[:PROJECTION_FIT_TEXTS]
        targets = torch.cat([cache.batch(english_side[i:i + 64], "cpu").pooled
                             for i in range(0, len(english_side), 64)])
        student.eval()
        cosine = student.fit_projection(fit, targets, config.max_length)
        log.info("projection fitted by least squares on %d %s: mean cosine %.3f", len(fit),
                 "bitext pairs" if config.projection_fit == "pairs" else "English sentences", cosine)
    student.train()
    idf = bitext_idf(bitext, student, teacher) if config.ot.marginals == "idf" else None
    loss_fn = DistillationLoss.from_config(config, idf)
    optimizer = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    return Components(teacher, cache, student, loss_fn, optimizer, scheduler)


def initial_grad_norms(c: Components, config: TrainConfig, pairs: list[tuple[str, str]], lengths: list[int]
                       ) -> dict[str, float]:
    """:func:`component_grad_norms` of the run's first batch, before any step."""
    first = [pairs[i] for i in epoch_batches(lengths, config.batch_size, config.seed, 0)[0]]
    return component_grad_norms(c.student, c.loss_fn, Collate(c.student, c.cache, config.max_length,
                                                              c.loss_fn.needs_student_en)(first))


def training_step(student, loss_fn: DistillationLoss, micro_batches: list[PairBatch], optimizer, scheduler,
                  accelerator) -> dict[str, torch.Tensor]:
    """One optimizer step on a global batch given as this process's micro-batches: forward, backward (gradients
    synchronised across processes on the last micro-batch only), clipping to norm 1, optimizer and schedule.
    Returns the loss's logs averaged over the micro-batches, as tensors (nothing is read from the device).
    The benchmark ``bench_step.py`` times this."""
    logs: dict[str, torch.Tensor] = {}
    for k, batch in enumerate(micro_batches):
        last = k == len(micro_batches) - 1
        with nullcontext() if last else accelerator.no_sync(student), accelerator.autocast():
            loss, parts = loss_fn(*batch.student_outputs(student), batch.teacher.to(accelerator.device))
            accelerator.backward(loss / len(micro_batches))
        for name, value in parts.items():
            logs[name] = logs.get(name, 0) + value.float() / len(micro_batches)
    accelerator.clip_grad_norm_(student.parameters(), 1.0)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return logs


def _weights(student: StudentQueryEncoder) -> dict[str, torch.Tensor]:
    """A CPU copy of the student's weights."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in student.state_dict().items()}


def _truncate_log(path: Path, step: int) -> None:
    """Drop the lines of steps after ``step`` (written after the checkpoint a run resumes from; every line when a
    run starts over at step 0)."""
    if path.is_file():
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if json.loads(line)["step"] <= step]
        atomic_write_text(path, "".join(line + "\n" for line in lines))


def _log_line(logs: dict[str, torch.Tensor], accelerator, step: int, lr: float) -> dict[str, float]:
    """The logs averaged over processes, read from the device (the step's only synchronisation); raises on NaN."""
    names = sorted(logs)
    values = accelerator.reduce(torch.stack([logs[n].float().to(accelerator.device) for n in names]), "mean")
    line = dict(zip(names, values.tolist())) | {"step": step, "lr": lr}
    if not math.isfinite(line["loss"]):
        raise FloatingPointError(f"the loss is NaN or inf at step {step} ({line}): lower lr or check the inputs")
    return {k: v if math.isfinite(v) else None for k, v in line.items()}  # strict JSON (no check made: null)


def evaluations_since_best(history: list[dict]) -> int:
    """Dev evaluations after the first one with the best ``"macro"`` score (0 when the last one is the best)."""
    scores = [h["macro"] for h in history]
    return len(scores) - 1 - scores.index(max(scores))


def make_accelerator(config: TrainConfig):
    """The Accelerate engine of a run: bf16 autocast on a GPU when ``mixed_precision``, gloo processes on a CPU."""
    from accelerate import Accelerator

    cuda = torch.cuda.is_available()
    return Accelerator(mixed_precision="bf16" if cuda and config.mixed_precision else "no", cpu=not cuda,
                       step_scheduler_with_optimizer=False)


def train(config: TrainConfig, bitext: list[Bitext], output_dir: str | Path,
          evaluator: Callable[[object], dict[str, float]] | None = None, teacher: Teacher | None = None,
          teacher_cache: TeacherTokenCache | None = None, stop_at_step: int | None = None,
          on_step: Callable[[int, dict], None] | None = None, accelerator=None) -> TrainResult:
    """Train a student on ``bitext`` (all languages jointly) and save it to ``output_dir/student``.

    Resumes from ``output_dir/checkpoint`` when it exists with the same config, and returns at once when
    ``output_dir/student`` is a finished run of the same config. ``stop_at_step`` ends the session early (a
    checkpoint is written; the schedule is unchanged; a checkpoint already there returns at once) so that a long run
    can be split. ``evaluator`` (e.g.
    :class:`optical.eval.dev.DevEvaluator`) maps the student, as a ``SentenceTransformer``, to dev scores whose
    ``"macro"`` entry selects the checkpoint (main process only); the saved student is the best dev checkpoint
    when it is given (model selection on dev only), else the last one; with ``config.patience`` training ends
    once that many evaluations in a row bring no new best (early stopping). ``on_step(step, logs)`` is called at
    logging steps. Run under ``accelerate launch`` for several processes.
    """
    start = time.time()
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    pairs, lengths = bitext_pairs(bitext)
    steps_per_epoch = len(epoch_batches(lengths, config.batch_size, config.seed, 0))
    total = config.max_steps or steps_per_epoch * config.epochs
    if (out / "student" / STUDENT_CARD).is_file():  # saved only after the last step
        card = read_json(out / "student" / STUDENT_CARD)
        refuse_other_run(out / "student", card["config"], sum(card["pairs"].values()), config, len(pairs),
                          "is a finished run of")
        log.info("%s is finished (%d steps); not retrained", out, card["steps"])
        return TrainResult(out, card["steps"], card["best_dev_macro_mrr10"], card["dev_history"], card["wall_s"])
    acc = accelerator or make_accelerator(config)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    checkpointer = Checkpointer(out / "checkpoint", acc)
    resuming = checkpointer.exists()
    if resuming:
        saved = read_json(checkpointer.folder / "state.json")
        refuse_other_run(checkpointer.folder, saved["config"], saved["n_pairs"], config, len(pairs), "was written by")
        if stop_at_step is not None and stop_at_step <= saved["step"] < total:  # this session's steps are done
            return TrainResult(out, saved["step"], saved["best_dev"], saved["dev_history"], saved["wall_s"])
    with acc.main_process_first():  # the main process writes the teacher cache's shards, the others read them
        c = build_components(config, bitext, total, acc.device, teacher, teacher_cache, fit_projection=not resuming)
    collate = Collate(c.student, c.cache, config.max_length, c.loss_fn.needs_student_en)
    grad_norms = None
    if not resuming and len(c.loss_fn.weights) > 1:
        grad_norms = initial_grad_norms(c, config, pairs, lengths)
        log.info("gradient norms of the loss components at step 0: %s", grad_norms)
    student, optimizer, scheduler = acc.prepare(c.student, c.optimizer, c.scheduler)

    step, best, best_weights, history, earlier_wall = 0, None, None, [], 0.0
    log_path = out / "train_log.jsonl"
    if resuming:
        state, best_weights = checkpointer.load()
        step, best, history = state["step"], state["best_dev"], state["dev_history"]
        earlier_wall, grad_norms = state.get("wall_s", 0.0), state.get("grad_norms_step0")
        log.info("resuming %s from step %d", out, step)
    if acc.is_main_process:  # the lines a killed run wrote after its checkpoint (all of them if it had none)
        _truncate_log(log_path, step)

    def state_dict() -> dict:
        return {"config": asdict(config), "n_pairs": len(pairs), "step": step, "best_dev": best,
                "dev_history": history, "wall_s": round(earlier_wall + time.time() - start, 1),
                "grad_norms_step0": grad_norms}

    def evaluate_dev() -> None:
        nonlocal best, best_weights
        if acc.is_main_process:
            model = acc.unwrap_model(student)
            model.eval()
            with torch.no_grad():
                scores = evaluator(model.as_sentence_transformer())
            model.train()
            history.append({"step": step, **scores})
            log.info("step %d dev MRR@10 %.4f", step, scores["macro"])
            if best is None or scores["macro"] > best:
                best, best_weights = scores["macro"], _weights(model)
            if config.patience and evaluations_since_best(history) >= config.patience:
                log.info("no new best dev score in %d evaluations: stopping at step %d", config.patience, step)
                acc.set_trigger()
        acc.wait_for_everyone()

    sampler = PairBatches(lengths, config, step, total, acc.process_index, acc.num_processes)
    # its own generator: creating the iterator draws a worker seed, which must not shift the global (dropout) stream
    loader = torch.utils.data.DataLoader(pairs, batch_sampler=sampler, collate_fn=collate,
                                         num_workers=config.num_workers,
                                         generator=torch.Generator().manual_seed(config.seed))
    batches = iter(loader)
    resumed_from = step
    bar = tqdm(total=total, initial=step, desc=f"train {config.loss}",  # the book's kernels set TQDM_DISABLE
               disable=not acc.is_main_process or os.environ.get("TQDM_DISABLE", "") not in ("", "0"))
    with open(log_path, "a", encoding="utf-8") if acc.is_main_process else nullcontext() as log_file:
        while step < total:
            micro = [next(batches) for _ in range(config.grad_accum)]
            logs = training_step(student, c.loss_fn, micro, optimizer, scheduler, acc)
            step += 1
            bar.update(1)
            if step % config.log_every == 0 or step == total:
                line = _log_line(logs, acc, step, scheduler.get_last_lr()[0])
                if log_file is not None:
                    log_file.write(json.dumps(line) + "\n")
                    log_file.flush()
                bar.set_postfix(loss=f"{line['loss']:.4f}")
                if on_step is not None:
                    on_step(step, line)
            if evaluator is not None and config.eval_every and (step % config.eval_every == 0 or step == total):
                evaluate_dev()
                if acc.check_trigger():  # early stopping, decided on the main process, seen by all
                    break
            if step < total and (step % config.checkpoint_every == 0 or step == stop_at_step):
                checkpointer.save(state_dict(), best_weights)
            if stop_at_step is not None and step >= stop_at_step and step < total:
                bar.close()
                return TrainResult(out, step, best, history, earlier_wall + time.time() - start,
                                   time.time() - start, resumed_from)
    bar.close()

    wall_s = round(earlier_wall + time.time() - start, 1)  # one value for the card and the result
    attempt_wall_s = round(time.time() - start, 1)
    if acc.is_main_process:
        model = acc.unwrap_model(student)
        if best_weights is not None:
            model.load_state_dict(best_weights)
        card = student_card(config, bitext, {"step": step, "dev_history": history, "best_dev": best,
                                              "grad_norms_step0": grad_norms, "wall_s": wall_s,
                                              "attempt_wall_s": attempt_wall_s, "resumed_from_step": resumed_from},
                             str(acc.device), acc.num_processes)
        save_student(model, out / "student", card)
    acc.wait_for_everyone()
    checkpointer.remove()  # finished: the student and its card replace it
    return TrainResult(out, step, best, history, wall_s, attempt_wall_s, resumed_from)
