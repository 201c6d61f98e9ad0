"""One typed configuration of a training run: :class:`SinkhornConfig` ⊂ :class:`OTConfig` ⊂ :class:`TrainConfig`.

Every field carries its default, help and constraint in one place; the classes are frozen and validate on
construction (errors name the field by its dotted path, e.g. ``ot.sinkhorn.max_iter``). ``optical train``'s flags
are generated from the leaf fields (:func:`add_config_arguments`) and the YAML parameter files are read by
:func:`config_from_dict`, which merges a partial override into the defaults and refuses unknown keys.

Leaf names are unique across the levels, so a parameter file may write them flat (``epsilon: 0.01``,
``max_iter: 300``) or nested (``ot: {epsilon: 0.01, sinkhorn: {max_iter: 300}}``); both mean the same field.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import MISSING, Field, asdict, dataclass, field, fields, is_dataclass, replace

KD_METRICS = ("mse", "cosine")
COST_NAMES = ("cosine", "sqeuclidean", "sqeuclidean-raw")  # optical.transport.costs.COSTS (a test checks)
DEV_CRITERIA = ("queries", "bitext", "mean")
LOSS_COMPONENTS = ["kd", "token-kd", "ot", "contrastive-kd"]
DATA_KEYS = {"max_pairs", "dev_bitext_pairs", "bitext_version"}
"""Keys a study's ``train`` section may hold beside the :class:`TrainConfig` fields: they choose the bitext."""  # extended by optical.losses.register_loss

_CHECKS = {
    "positive": (lambda v: v > 0, "must be positive"),
    "at_least_one": (lambda v: v >= 1, "must be at least 1"),
    "non_negative": (lambda v: v >= 0, "must be 0 or more"),
    "fraction": (lambda v: 0 <= v < 1, "must be in [0, 1)"),
}


def _option(default, help: str, choices: tuple | None = None, check: str | None = None):
    """A config field with its command-line help, choices and constraint written next to its default."""
    return field(default=default, metadata={"help": help, "choices": choices, "check": check})


def _validate(config, path: str = "") -> None:
    """Check every field of a config dataclass against its choices and constraint; errors name the field."""
    for f in fields(config):
        value, name = getattr(config, f.name), path + f.name
        choices, check = f.metadata.get("choices"), f.metadata.get("check")
        if choices and value not in choices:
            raise ValueError(f"{name}: {value!r} is not one of {', '.join(choices)}")
        if check and value is not None and not _CHECKS[check][0](value):
            raise ValueError(f"{name} {_CHECKS[check][1]}, got {value}")


def parse_loss_name(name: str, weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """``"ot+kd"`` -> ``{"ot": 1.0, "kd": 1.0}``; raises naming the valid components."""
    parts = [p.strip() for p in name.split("+") if p.strip()]
    unknown = [p for p in parts if p not in LOSS_COMPONENTS]
    if not parts or unknown:
        raise ValueError(f"unknown loss {name!r}: combine {tuple(LOSS_COMPONENTS)} with '+', e.g. 'ot+kd'")
    weights = weights or {}
    extra = [k for k in weights if k not in parts]
    if extra:
        raise ValueError(f"weights given for components {extra} that are not in the loss {name!r}")
    return {p: float(weights.get(p, 1.0)) for p in parts}


@dataclass(frozen=True)
class SinkhornConfig:
    """The entropic OT solver (:func:`optical.transport.sinkhorn`)."""

    max_iter: int = _option(100, "Sinkhorn iterations at most (at the target epsilon)", check="at_least_one")
    tol: float = _option(1e-4, "stop when the marginal error of every pair is below this", check="positive")
    check_every: int = _option(5, "iterations between convergence checks; 0: always max_iter iterations and no "
                                  "host synchronisation (the GPU setting)", check="non_negative")
    eps_start: float | None = _option(None, "epsilon-scaling start value (annealed to epsilon in each solve)",
                                      check="positive")
    grad: str = _option("envelope", "gradient through Sinkhorn", ("envelope", "autodiff", "detach"))
    unbalanced: float | None = _option(None, "rho of KL-relaxed marginals (default: balanced OT)", check="positive")

    def __post_init__(self) -> None:
        _validate(self, "ot.sinkhorn.")


@dataclass(frozen=True)
class OTConfig:
    """The OT distillation loss (:class:`optical.losses.OTDistillationLoss`)."""

    epsilon: float = _option(0.05, "entropic regularisation, in cost units", check="positive")
    epsilon_relative: float | None = _option(
        None, "kappa: epsilon = kappa * sd of the batch's double-centred cost (epsilon is then ignored)",
        check="positive")
    center: bool = _option(False, "subtract each side's mean token (over the batch) before the OT cost")
    debias: bool = _option(False, "Sinkhorn divergence (debiased) instead of the transport cost <P, C>")
    cost: str = _option("cosine", "OT ground cost between tokens", COST_NAMES)
    marginals: str = _option("uniform", "OT token masses", ("uniform", "idf"))
    content_only: bool = _option(True, "transport content tokens only (--no-content-only: [CLS]/[SEP] too)")
    sinkhorn: SinkhornConfig = field(default_factory=SinkhornConfig)

    def __post_init__(self) -> None:
        _validate(self, "ot.")
        if self.debias and self.sinkhorn.unbalanced is not None:
            raise ValueError("ot.debias: the Sinkhorn divergence is implemented for balanced OT only "
                             "(ot.sinkhorn.unbalanced unset)")

    def loss_options(self) -> dict:
        """Keyword arguments of :func:`optical.losses.ot_distillation_loss` (solver options included)."""
        return dict(epsilon=self.epsilon, epsilon_relative=self.epsilon_relative, center=self.center,
                    debias=self.debias, cost=self.cost, **asdict(self.sinkhorn))


@dataclass(frozen=True)
class TrainConfig:
    """Every choice of a training run; saved in the checkpoint and the student card.

    The defaults are the main experiment's (``params/full.yaml``); ``optical train`` has one flag per leaf field.
    """

    loss: str = _option("ot", "components joined by '+': kd, token-kd, ot (e.g. ot+kd)")
    loss_weights: dict[str, float] | None = _option(None, "component weights, e.g. ot=1,kd=0.5 (default: all 1)")
    kd_metric: str = _option("mse", "sentence KD distance: mse (per element) or cosine (1 - cos, the OT cost's "
                                    "scale)", KD_METRICS)
    teacher: str = _option("all-MiniLM-L6-v2", "teacher: hub id, directory or offline alias")
    student: str | None = _option(None, "student initialisation (default: a copy of the teacher)")
    projection: str = _option("auto", "student-to-teacher linear map: auto (only when widths differ) or lstsq "
                                      "(always, fitted by least squares on the bitext)", ("auto", "lstsq"))
    projection_fit: str = _option("english", "what the lstsq projection is fitted on: english (the student's "
                                             "vectors of the English side onto the teacher's) or pairs (the "
                                             "student's L sentences onto the teacher's English translations)",
                                  ("english", "pairs"))
    kd_center: bool = _option(False, "KD on centred sentence vectors: subtract each side's mean over the batch "
                                     "(the analogue of OT's centring)")
    temperature: float = _option(0.05, "contrastive-kd: InfoNCE temperature of the cosine logits", check="positive")
    freeze_embeddings: bool = _option(False, "keep the student's input word embeddings fixed (mE5-small: 96 M of "
                                             "its 118 M parameters; faster steps, no drift of unseen tokens)")
    epochs: int = _option(1, "passes over the bitext (when max_steps is not set)", check="at_least_one")
    max_steps: int | None = _option(None, "optimizer steps (default: epochs x steps per epoch)", check="at_least_one")
    batch_size: int = _option(32, "pairs per optimizer step (the global batch, over all processes and "
                                  "accumulation steps)", check="at_least_one")
    grad_accum: int = _option(1, "micro-batches per optimizer step (gradient accumulation)", check="at_least_one")
    lr: float = _option(1e-4, "peak learning rate (AdamW, linear warm-up and decay)", check="positive")
    warmup_ratio: float = _option(0.1, "fraction of the steps spent warming up", check="fraction")
    weight_decay: float = _option(0.01, "AdamW weight decay", check="non_negative")
    max_length: int = _option(64, "token cap of the bitext sentences", check="at_least_one")
    seed: int = _option(0, "seed of the data order and the initialisation")
    eval_every: int = _option(100, "dev evaluation every N steps for checkpoint selection (0: none)",
                              check="non_negative")
    dev_select: str = _option("queries", "dev criterion for checkpoint selection: MRR@10 of the dev queries "
                                         "(macro), held-out bitext retrieval MRR (macro), or their mean",
                              DEV_CRITERIA)
    patience: int | None = _option(None, "early stopping: end training after this many dev evaluations without a "
                                         "new best (default: every step of the budget)", check="at_least_one")
    checkpoint_every: int = _option(100, "steps between resumable checkpoints", check="at_least_one")
    log_every: int = _option(10, "steps between training-log lines (the only host synchronisation of a step)",
                             check="at_least_one")
    num_workers: int = _option(0, "DataLoader worker processes that tokenise the batches", check="non_negative")
    mixed_precision: bool = _option(True, "bf16 autocast on a GPU (the CPU stays fp32)")
    ot: OTConfig = field(default_factory=OTConfig)

    def __post_init__(self) -> None:
        _validate(self)
        parse_loss_name(self.loss, self.loss_weights)


def _leaves(cls: type, path: tuple[str, ...] = ()) -> dict[str, tuple[tuple[str, ...], Field]]:
    """Leaf field name -> (path of the nested config holding it, the field)."""
    out = {}
    for f in fields(cls):
        if f.default_factory is not MISSING and is_dataclass(f.default_factory):
            out.update(_leaves(f.default_factory, path + (f.name,)))
        else:
            if f.name in out:
                raise TypeError(f"config field name {f.name!r} is not unique across the levels")
            out[f.name] = (path, f)
    return out


LEAVES = _leaves(TrainConfig)
"""Every settable leaf of :class:`TrainConfig` by its (unique) name."""
NESTED = {"ot": ("ot",), "sinkhorn": ("ot", "sinkhorn")}
TRAIN_KEYS = set(LEAVES) | set(NESTED)
"""Every name a parameter file may give a training section (leaves written flat, or the nested sections)."""


def _nested(values: Mapping, path: tuple[str, ...] = ()) -> dict:
    """A flat-or-nested mapping of overrides as ``{(path..., leaf): value}``; raises on unknown keys."""
    out = {}
    for key, value in values.items():
        if key in NESTED and NESTED[key][:-1] == path and isinstance(value, Mapping):
            out.update(_nested(value, NESTED[key]))
        elif key in LEAVES and (not path or LEAVES[key][0] == path):
            out[LEAVES[key][0] + (key,)] = value
        else:
            where = ".".join(path) or "train"
            valid = sorted(k for k, (p, _) in LEAVES.items() if not path or p == path)
            raise ValueError(f"unknown {where} parameter {key!r}; valid: {valid}"
                             + ("" if path else " (flat), or nested under ot: {..., sinkhorn: {...}}"))
    return out


def _replace(config, overrides: dict[tuple[str, ...], object]):
    """``config`` with the leaves in ``overrides`` replaced (nested configs rebuilt, so each one validates)."""
    own = {path[0]: value for path, value in overrides.items() if len(path) == 1}
    for name in {path[0] for path in overrides if len(path) > 1}:
        inner = {path[1:]: value for path, value in overrides.items() if len(path) > 1 and path[0] == name}
        own[name] = _replace(getattr(config, name), inner)
    return replace(config, **own) if own else config


def config_from_dict(values: Mapping, base: TrainConfig | None = None) -> TrainConfig:
    """``base`` (default: :class:`TrainConfig`'s defaults) with the flat or nested ``values`` merged in.

    ``config_from_dict(asdict(c)) == c``; keys that are no field raise naming the valid ones.
    """
    return _replace(base or TrainConfig(), _nested(values))


_SCALARS = {"str": str, "int": int, "float": float}


def _weights_argument(text: str) -> dict[str, float]:
    try:
        return {k.strip(): float(v) for k, v in (item.split("=") for item in text.split(",") if item.strip())}
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected name=weight pairs like ot=1,kd=0.5, got {text!r}") from err


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per leaf of :class:`TrainConfig` (nested ones too: ``--max-iter``), with its type, help
    and choices; each flag's default is ``None`` (not given), so that :func:`config_from_arguments` keeps the
    config's own defaults, printed in the help."""
    defaults, groups = asdict(TrainConfig()), {(): parser}
    for name, (path, f) in LEAVES.items():
        default = defaults
        for key in path + (name,):
            default = default[key]
        flag, meta = "--" + name.replace("_", "-"), f.metadata
        kind = f.type.replace(" | None", "")
        if path not in groups:
            groups[path] = parser.add_argument_group(".".join(path))
        group = groups[path]
        helptext = meta["help"] if default is None else f"{meta['help']} (default: {default})"
        if kind == "bool":
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=helptext)
        elif name == "loss_weights":
            group.add_argument(flag, type=_weights_argument, default=None, help=helptext)
        else:
            group.add_argument(flag, type=_SCALARS[kind], default=None, choices=meta["choices"], help=helptext)


def config_from_arguments(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of the flags given in ``args`` (the others keep their defaults; validated)."""
    return config_from_dict({name: getattr(args, name) for name in LEAVES if getattr(args, name) is not None})
