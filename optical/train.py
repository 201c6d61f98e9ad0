"""Distillation trainer: a frozen teacher, a student query encoder, bitext, one loss by name.

Why a small explicit loop rather than sentence-transformers' trainer: the OT and token-KD
losses need token-level outputs of two different models on two different texts, teacher
outputs are cached across epochs (and across losses in one process), and resume must
restore the exact data order; each of these would fight the trainer's collator and loss API.

Determinism: the batches of epoch ``e`` (length-bucketed, :func:`epoch_batches`) are seeded by ``(seed, e)``; a
checkpoint holds the student, optimizer, scheduler, step and torch RNG state (and the best dev weights so far), so a resumed
run repeats an uninterrupted one bit for bit on the same CPU and thread count (CPU kernels
with a different thread count may round differently, a difference of order 1e-7).

Disk: a run keeps at most one checkpoint (written atomically, so briefly two) and, once the
student is saved, deletes it: with mE5 (118M parameters, 250k-piece vocabulary) a checkpoint
with its Adam moments is about 1.4 GB, the saved student 0.47 GB. The best dev weights are kept in
memory between checkpoints, and the dev evaluation encodes with the student's weights in place.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from optical.data.schema import Bitext
from optical.io import atomic_write_json, read_json
from optical.losses import DistillationLoss, IDFWeights, parse_loss_name
from optical.losses.kd import KD_METRICS
from optical.transport import COSTS
from optical.models import (STUDENT_CARD, StudentQueryEncoder, Teacher, TokenOutput, load_sentence_transformer,
                            save_sentence_transformer)

log = logging.getLogger(__name__)

PROJECTION_FIT_TEXTS = 4000
"""English bitext sentences used to fit the ``lstsq`` projection (training data only)."""


def _option(default, help: str, choices: tuple | None = None):
    """A config field with its command-line help (and choices) written next to its default."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class TrainConfig:
    """Every choice of a training run, validated on construction; saved in the checkpoint and the student card.

    The defaults are the main experiment's (``params/full.yaml``); ``optical train`` has one flag per field,
    generated from these fields (:func:`add_config_arguments`).
    """

    loss: str = _option("ot", "components joined by '+': kd, token-kd, ot (e.g. ot+kd)")
    loss_weights: dict[str, float] | None = _option(None, "component weights, e.g. ot=1,kd=0.5 (default: all 1)")
    teacher: str = _option("all-MiniLM-L6-v2", "teacher: hub id, directory or offline alias")
    student: str | None = _option(None, "student initialisation (default: a copy of the teacher)")
    epsilon: float = _option(0.05, "entropic regularisation, in cost units")
    epsilon_relative: float | None = _option(
        None, "kappa: epsilon = kappa * sd of the batch's double-centred cost (epsilon is then ignored)")
    center: bool = _option(False, "subtract each side's mean token (over the batch) before the OT cost")
    debias: bool = _option(False, "Sinkhorn divergence (debiased) instead of the transport cost <P, C>")
    kd_metric: str = _option("mse", "sentence KD distance: mse (per element) or cosine (1 - cos, the OT cost's "
                                    "scale)", KD_METRICS)
    dev_select: str = _option("afriqa", "dev criterion for checkpoint selection: AfriQA dev MRR@10, MAFAND dev "
                                        "bitext MRR, or their mean", ("afriqa", "mafand", "mean"))
    cost: str = _option("cosine", "OT ground cost between tokens", tuple(COSTS))
    marginals: str = _option("uniform", "OT token masses", ("uniform", "idf"))
    grad: str = _option("envelope", "gradient through Sinkhorn", ("envelope", "autodiff", "detach"))
    unbalanced: float | None = _option(None, "rho of KL-relaxed marginals (default: balanced OT)")
    eps_start: float | None = _option(None, "epsilon-scaling start value (annealed to epsilon in each solve)")
    content_only: bool = _option(True, "transport content tokens only (--no-content-only: [CLS]/[SEP] too)")
    projection: str = _option("auto", "student-to-teacher linear map: auto (only when widths differ) or lstsq "
                                      "(always, fitted by least squares on the English bitext)", ("auto", "lstsq"))
    epochs: int = _option(1, "passes over the bitext (when max_steps is not set)")
    max_steps: int | None = _option(None, "optimizer steps (default: epochs x steps per epoch)")
    batch_size: int = _option(32, "pairs per step")
    lr: float = _option(1e-4, "peak learning rate (AdamW, linear warm-up and decay)")
    warmup_ratio: float = _option(0.1, "fraction of the steps spent warming up")
    weight_decay: float = _option(0.01, "AdamW weight decay")
    max_length: int = _option(64, "token cap of the bitext sentences")
    seed: int = _option(0, "seed of the data order and the initialisation")
    eval_every: int | None = _option(100, "dev evaluation every N steps for checkpoint selection (0: none)")
    checkpoint_every: int = _option(100, "steps between resumable checkpoints")
    mixed_precision: bool = _option(True, "bf16 autocast on a GPU (the CPU stays fp32)")

    def __post_init__(self) -> None:
        parse_loss_name(self.loss, self.loss_weights)
        for f in fields(self):
            choices, value = f.metadata.get("choices"), getattr(self, f.name)
            if choices and value not in choices:
                raise ValueError(f"{f.name}: {value!r} is not one of {', '.join(choices)}")
        positive = {"epsilon": self.epsilon, "epsilon_relative": self.epsilon_relative, "lr": self.lr,
                    "eps_start": self.eps_start, "unbalanced": self.unbalanced}
        at_least_one = {"epochs": self.epochs, "max_steps": self.max_steps, "batch_size": self.batch_size,
                        "max_length": self.max_length, "checkpoint_every": self.checkpoint_every}
        for name, value in positive.items():
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")
        for name, value in at_least_one.items():
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.eval_every is not None and self.eval_every < 0:
            raise ValueError(f"eval_every must be 0 (none) or positive, got {self.eval_every}")
        if not 0 <= self.warmup_ratio < 1 or self.weight_decay < 0:
            raise ValueError(f"warmup_ratio must be in [0, 1) and weight_decay >= 0; got {self.warmup_ratio}, "
                             f"{self.weight_decay}")
        if self.debias and self.unbalanced is not None:
            raise ValueError("debias: the Sinkhorn divergence is implemented for balanced OT only (unbalanced unset)")

    def ot_options(self) -> dict:
        return dict(epsilon=self.epsilon, cost=self.cost, grad=self.grad, unbalanced=self.unbalanced,
                    eps_start=self.eps_start, content_only=self.content_only, epsilon_relative=self.epsilon_relative,
                    center=self.center, debias=self.debias)


_SCALARS = {"str": str, "int": int, "float": float}


def _weights_argument(text: str) -> dict[str, float]:
    try:
        return {k.strip(): float(v) for k, v in (item.split("=") for item in text.split(",") if item.strip())}
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected name=weight pairs like ot=1,kd=0.5, got {text!r}") from err


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per :class:`TrainConfig` field, with its type, default, help and choices."""
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        flag, default, meta = "--" + f.name.replace("_", "-"), getattr(defaults, f.name), f.metadata
        kind = f.type.replace(" | None", "")
        if kind == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=meta["help"])
        elif f.name == "loss_weights":
            parser.add_argument(flag, type=_weights_argument, default=default, help=meta["help"])
        else:
            parser.add_argument(flag, type=_SCALARS[kind], default=default, choices=meta["choices"],
                                help=f"{meta['help']} (default: {default})")


def config_from_arguments(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of parsed ``args`` (validated)."""
    return TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})


@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    best_dev: float | None
    dev_history: list[dict] = field(default_factory=list)
    wall_s: float = 0.0


class TeacherCache:
    """Teacher token outputs per English sentence, kept in memory (computed once, shared by runs)."""

    def __init__(self, teacher: Teacher, max_length: int):
        self.teacher, self.max_length = teacher, max_length
        self._store: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def batch(self, texts: list[str]) -> TokenOutput:
        """Padded :class:`TokenOutput` for ``texts`` (computes the missing ones in one forward)."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._store))
        if missing:
            out = self.teacher.tokens(missing, self.max_length)
            for i, text in enumerate(missing):
                n = int(out.attention_mask[i].sum())
                self._store[text] = (out.tokens[i, :n].cpu(), out.content_mask[i, :n].cpu(),
                                     out.input_ids[i, :n].cpu(), out.pooled[i].cpu())
        items = [self._store[t] for t in texts]
        n = max(x[0].shape[0] for x in items)
        device = next(self.teacher.model.parameters()).device
        tokens = torch.zeros(len(items), n, items[0][0].shape[1])
        content = torch.zeros(len(items), n, dtype=torch.bool)
        attention = torch.zeros(len(items), n, dtype=torch.bool)
        ids = torch.zeros(len(items), n, dtype=torch.long)
        for i, (tok, cm, ii, _) in enumerate(items):
            tokens[i, : len(tok)], content[i, : len(tok)], attention[i, : len(tok)], ids[i, : len(tok)] = tok, cm, True, ii
        pooled = torch.stack([x[3] for x in items])
        return TokenOutput(tokens.to(device), content.to(device), attention.to(device), ids.to(device),
                           pooled.to(device))


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


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


def _idf(bitext: list[Bitext], student, teacher: Teacher) -> IDFWeights:
    src = [p for b in bitext for p in b.source]
    tgt = [p for b in bitext for p in b.target]
    s_ids = student.model.tokenizer(src, truncation=True, max_length=512)["input_ids"]
    t_ids = teacher.model.tokenizer(tgt, truncation=True, max_length=512)["input_ids"]
    vocab = max(len(student.model.tokenizer), len(teacher.model.tokenizer))
    return IDFWeights(s_ids, t_ids, vocab)


def component_grad_norms(student: StudentQueryEncoder, loss_fn: DistillationLoss, cache: TeacherCache,
                          pairs: list[tuple[str, str]], lengths: list[int], config: TrainConfig) -> dict[str, float]:
    """L2 norm of each unweighted loss component's gradient on the first batch (how the components compare
    in scale before any weighting); the torch RNG state is restored, so training is unchanged."""
    rng = torch.get_rng_state()
    idx = epoch_batches(lengths, config.batch_size, config.seed, 0)[0]
    src, tgt = [pairs[i][0] for i in idx], [pairs[i][1] for i in idx]
    student_en = student(tgt, config.max_length) if loss_fn.needs_student_en else None
    values, _ = loss_fn.components(student(src, config.max_length), student_en, cache.batch(tgt))
    params = [p for p in student.parameters() if p.requires_grad]
    norms = {}
    for name, value in values.items():
        grads = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
        norms[name] = float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)))
    torch.set_rng_state(rng)
    return norms


def training_step(student: StudentQueryEncoder, loss_fn: DistillationLoss, cache: TeacherCache, src: list[str],
                  tgt: list[str], optimizer: torch.optim.Optimizer, scheduler, max_length: int,
                  autocast=None) -> dict[str, float]:
    """One optimisation step on the pairs ``(src[i], tgt[i])``: teacher tokens of ``tgt`` from the cache, the
    student on ``src`` (and on ``tgt`` when the loss needs it), the loss, backward, clipping to norm 1, the
    optimizer and scheduler steps. Returns the loss's logs. The benchmark ``bench_step.py`` times this."""
    with autocast or torch.autocast("cpu", enabled=False):
        teacher_en = cache.batch(tgt)
        student_l = student(src, max_length)
        student_en = student(tgt, max_length) if loss_fn.needs_student_en else None
        loss, parts = loss_fn(student_l, student_en, teacher_en)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return parts


def _weights(student: StudentQueryEncoder) -> dict[str, torch.Tensor]:
    """A CPU copy of the student's weights."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in student.state_dict().items()}


def _save_checkpoint(path: Path, student: StudentQueryEncoder, state: dict, optimizer, scheduler,
                     best: dict[str, torch.Tensor] | None) -> None:
    """Write ``path`` atomically: weights, optimizer/scheduler/RNG, state, and the best dev weights so far."""
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(_weights(student), tmp / "student.safetensors")
    if best is not None:
        save_file(best, tmp / "best.safetensors")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state()}, tmp / "optimizer.pt")
    atomic_write_json(tmp / "state.json", state)
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


def _refuse_other_run(path: Path, saved_config: dict, saved_pairs: int, config: TrainConfig, n_pairs: int,
                       what: str) -> None:
    """Error unless ``path`` (a checkpoint or a saved student) came from ``config`` on ``n_pairs`` pairs."""
    if saved_config != asdict(config) or saved_pairs != n_pairs:
        raise ValueError(f"{path} {what} a different config or bitext; use another output dir or delete it")


def _save_student(student: StudentQueryEncoder, out: Path, card: dict) -> None:
    """Save as a sentence-transformers directory (safetensors), with the projection as a Dense layer."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_sentence_transformer(student.as_sentence_transformer(), tmp)
    atomic_write_json(tmp / STUDENT_CARD, card)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def train(config: TrainConfig, bitext: list[Bitext], output_dir: str | Path,
          evaluator: Callable[[object], dict[str, float]] | None = None, teacher: Teacher | None = None,
          teacher_cache: TeacherCache | None = None, stop_at_step: int | None = None,
          on_step: Callable[[int, dict], None] | None = None) -> TrainResult:
    """Train a student on ``bitext`` (all languages jointly) and save it to ``output_dir/student``.

    Resumes from ``output_dir/checkpoint`` when it exists with the same config, and returns at once
    when ``output_dir/student`` is a finished run of the same config. ``stop_at_step`` ends the
    session early (a checkpoint is written; the schedule is unchanged) so that a long run can be
    split. ``evaluator`` (e.g. :class:`optical.eval.dev.DevEvaluator`) maps the student, as a
    ``SentenceTransformer``, to dev scores whose ``"macro"`` entry selects the checkpoint; the saved student is
    the best dev checkpoint when it is given (model selection on dev only), else the last one.
    """
    start = time.time()
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    pairs = [(s, t) for b in bitext for s, t in zip(b.source, b.target)]
    if not pairs:
        raise ValueError("no training pairs: the bitext is empty")
    lengths = [max(len(src), len(tgt)) for src, tgt in pairs]
    steps_per_epoch = len(epoch_batches(lengths, config.batch_size, config.seed, 0))
    total = config.max_steps or steps_per_epoch * config.epochs
    if (out / "student" / STUDENT_CARD).is_file():  # saved only after the last step
        card = read_json(out / "student" / STUDENT_CARD)
        _refuse_other_run(out / "student", card["config"], sum(card["pairs"].values()), config, len(pairs),
                          "is a finished run of")
        log.info("%s is finished (%d steps); not retrained", out, card["steps"])
        return TrainResult(out, card["steps"], card["best_dev_macro_mrr10"], card["dev_history"], card["wall_s"])
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    teacher = teacher or Teacher(config.teacher, device)
    cache = teacher_cache or TeacherCache(teacher, config.max_length)
    student = StudentQueryEncoder(load_sentence_transformer(config.student or config.teacher, device), teacher.dim,
                                  project=config.projection == "lstsq")
    if config.projection == "lstsq" and not (out / "checkpoint" / "state.json").is_file():
        english = list(dict.fromkeys(t for b in bitext for t in b.target))[:PROJECTION_FIT_TEXTS]
        targets = torch.cat([cache.batch(english[i:i + 64]).pooled.cpu() for i in range(0, len(english), 64)])
        student.eval()
        cosine = student.fit_projection(english, targets, config.max_length)
        log.info("projection fitted by least squares on %d English sentences: mean cosine %.3f", len(english), cosine)
    student.train()
    idf = _idf(bitext, student, teacher) if config.marginals == "idf" else None
    loss_fn = DistillationLoss(config.loss, config.loss_weights, config.ot_options(), idf, kd_metric=config.kd_metric)
    optimizer = torch.optim.AdamW(student.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    from transformers import get_linear_schedule_with_warmup

    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total), total)

    ckpt = out / "checkpoint"
    step, best, best_weights, history, earlier_wall = 0, None, None, [], 0.0
    if (ckpt / "state.json").is_file():
        state = read_json(ckpt / "state.json")
        _refuse_other_run(ckpt, state["config"], state["n_pairs"], config, len(pairs), "was written by")
        student.load_state_dict(load_file(ckpt / "student.safetensors"))
        extra = torch.load(ckpt / "optimizer.pt", weights_only=True)
        optimizer.load_state_dict(extra["optimizer"])
        scheduler.load_state_dict(extra["scheduler"])
        torch.set_rng_state(extra["rng"])
        if (ckpt / "best.safetensors").is_file():
            best_weights = load_file(ckpt / "best.safetensors")
        step, best, history = state["step"], state["best_dev"], state["dev_history"]
        earlier_wall = state.get("wall_s", 0.0)  # training time of the sessions before this one
        log.info("resuming %s from step %d", out, step)

    if step == 0 and len(loss_fn.weights) > 1:
        grad_norms = component_grad_norms(student, loss_fn, cache, pairs, lengths, config)
        log.info("gradient norms of the loss components at step 0: %s", grad_norms)
    else:
        grad_norms = state.get("grad_norms_step0") if step else None

    def state_dict() -> dict:
        return {"config": asdict(config), "n_pairs": len(pairs), "step": step, "best_dev": best,
                "dev_history": history, "wall_s": round(earlier_wall + time.time() - start, 1),
                "grad_norms_step0": grad_norms}

    def evaluate_dev() -> None:
        nonlocal best, best_weights
        student.eval()
        with torch.no_grad():
            scores = evaluator(student.as_sentence_transformer())
        student.train()
        history.append({"step": step, **scores})
        log.info("step %d dev MRR@10 %.4f", step, scores["macro"])
        if best is None or scores["macro"] > best:
            best, best_weights = scores["macro"], _weights(student)

    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" and config.mixed_precision \
        else torch.autocast("cpu", enabled=False)
    log_path = out / "train_log.jsonl"
    batches = None
    bar = tqdm(total=total, initial=step, desc=f"train {config.loss}", disable=None)
    with open(log_path, "a", encoding="utf-8") as log_file:
        while step < total:
            epoch, offset = divmod(step, steps_per_epoch)
            if offset == 0 or batches is None:
                batches = epoch_batches(lengths, config.batch_size, config.seed, epoch)
            idx = batches[offset]
            src, tgt = [pairs[i][0] for i in idx], [pairs[i][1] for i in idx]
            parts = training_step(student, loss_fn, cache, src, tgt, optimizer, scheduler, config.max_length, autocast)
            step += 1
            parts.update(step=step, lr=scheduler.get_last_lr()[0])
            log_file.write(json.dumps(parts) + "\n")
            log_file.flush()
            bar.update(1)
            bar.set_postfix(loss=f"{parts['loss']:.4f}")
            if evaluator is not None and config.eval_every and (step % config.eval_every == 0 or step == total):
                evaluate_dev()
            if step < total and (step % config.checkpoint_every == 0 or step == stop_at_step):
                _save_checkpoint(ckpt, student, state_dict(), optimizer, scheduler, best_weights)
            if on_step is not None:
                on_step(step, parts)
            if stop_at_step is not None and step >= stop_at_step and step < total:
                bar.close()
                return TrainResult(out, step, best, history, earlier_wall + time.time() - start)
    bar.close()

    if best_weights is not None:
        student.load_state_dict(best_weights)
    wall_s = round(earlier_wall + time.time() - start, 1)  # one value for the card and the result
    card = {"teacher": config.teacher, "student_init": config.student or config.teacher, "loss": config.loss,
            "config": asdict(config), "languages": [b.language for b in bitext],
            "pairs": {b.language: len(b) for b in bitext}, "bitext_counts": {b.language: b.counts for b in bitext},
            "steps": step, "dev_history": history, "best_dev_macro_mrr10": best, "grad_norms_step0": grad_norms,
            "git_commit": _git_commit(),
            "machine": platform.platform(), "device": device, "wall_s": wall_s}
    _save_student(student, out / "student", card)
    shutil.rmtree(ckpt, ignore_errors=True)  # finished: the student and its card replace it
    return TrainResult(out, step, best, history, wall_s)
