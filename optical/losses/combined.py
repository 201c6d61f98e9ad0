"""One distillation objective selected by name from a registry of losses: ``kd``, ``token-kd``, ``ot`` and any
``+`` mix of them (``ot+kd``).

The total is :math:`\\sum_c \\lambda_c \\mathcal{L}_c` with :math:`\\lambda_c = 1` unless ``weights`` says
otherwise. Each registered loss is a module ``forward(student_l, student_en, teacher_en) -> (loss, logs)`` whose
logs are detached 0-dim tensors, so a training step never reads the device; only the components named are built.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from optical.config import LOSS_COMPONENTS, TrainConfig, parse_loss_name
from optical.losses.kd import ContrastiveDistillationLoss, HardAlignmentTokenLoss, MSEDistillationLoss
from optical.losses.ot_distill import IDFWeights, OTDistillationLoss

LossFactory = Callable[[TrainConfig, "IDFWeights | None"], nn.Module]
LOSSES: dict[str, LossFactory] = {}
"""Loss name -> factory ``(train_config, idf) -> module``; extend with :func:`register_loss`."""


def register_loss(name: str, factory: LossFactory) -> None:
    """Make ``name`` a loss component (usable in ``TrainConfig.loss``, e.g. ``"ot+" + name``)."""
    LOSSES[name] = factory
    if name not in LOSS_COMPONENTS:
        LOSS_COMPONENTS.append(name)


register_loss("kd", lambda config, idf: MSEDistillationLoss(config.kd_metric, config.kd_center))
register_loss("token-kd", lambda config, idf: HardAlignmentTokenLoss())
register_loss("ot", lambda config, idf: OTDistillationLoss(config.ot.content_only, idf, **config.ot.loss_options()))
register_loss("contrastive-kd", lambda config, idf: ContrastiveDistillationLoss(config.temperature))


class DistillationLoss(nn.Module):
    """Weighted sum of the named components.

    ``forward(student_l, student_en, teacher_en)`` takes :class:`optical.models.TokenOutput` objects;
    ``student_en`` (the student on the English side) is needed only by ``kd`` (see :attr:`needs_student_en`).
    """

    def __init__(self, name: str = "ot", weights: dict[str, float] | None = None, config: TrainConfig | None = None,
                 idf: IDFWeights | None = None):
        super().__init__()
        self.name = name
        self.weights = parse_loss_name(name, weights)
        self.parts = nn.ModuleDict({c: LOSSES[c](config or TrainConfig(), idf) for c in self.weights})

    @classmethod
    def from_config(cls, config: TrainConfig, idf: IDFWeights | None = None) -> "DistillationLoss":
        """The loss ``config.loss`` with every option of ``config`` (OT's, KD's metric, centring, temperature)."""
        return cls(config.loss, config.loss_weights, config, idf)

    @property
    def needs_student_en(self) -> bool:
        return any(part.needs_student_en for part in self.parts.values())

    def components(self, student_l, student_en, teacher_en
                   ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Each named component's unweighted loss, and the logs of all."""
        values, logs = {}, {}
        for name, part in self.parts.items():
            values[name], parts = part(student_l, student_en, teacher_en)
            logs.update(parts)
        return values, logs

    def forward(self, student_l, student_en, teacher_en) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        values, logs = self.components(student_l, student_en, teacher_en)
        total = sum(self.weights[c] * v for c, v in values.items())
        logs["loss"] = total.detach()
        return total, logs
