"""One distillation objective selected by name: ``kd``, ``token-kd``, ``ot``, ``ot+kd`` (any ``+`` mix).

The total is :math:`\\sum_c \\lambda_c \\mathcal{L}_c` with :math:`\\lambda_c = 1` unless ``weights`` says
otherwise; every component is returned for logging.
"""

from __future__ import annotations

import torch
from torch import nn

from optical.losses.kd import HardAlignmentTokenLoss, MSEDistillationLoss
from optical.losses.ot_distill import OTDistillationLoss

COMPONENTS = ("kd", "token-kd", "ot")


def parse_loss_name(name: str, weights: dict[str, float] | None = None) -> dict[str, float]:
    """``"ot+kd"`` -> ``{"ot": 1.0, "kd": 1.0}``; raises naming the valid components."""
    parts = [p.strip() for p in name.split("+") if p.strip()]
    unknown = [p for p in parts if p not in COMPONENTS]
    if not parts or unknown:
        raise ValueError(f"unknown loss {name!r}: combine {COMPONENTS} with '+', e.g. 'ot+kd'")
    weights = weights or {}
    extra = [k for k in weights if k not in parts]
    if extra:
        raise ValueError(f"weights given for components {extra} that are not in the loss {name!r}")
    return {p: float(weights.get(p, 1.0)) for p in parts}


class DistillationLoss(nn.Module):
    """Weighted sum of the named components.

    ``forward(student_l, student_en, teacher_en)`` takes :class:`optical.models.TokenOutput` objects;
    ``student_en`` (the student on the English side) is needed only by ``kd`` (see :attr:`needs_student_en`).
    """

    def __init__(self, name: str = "ot", weights: dict[str, float] | None = None, ot_options: dict | None = None,
                 idf=None, kd_english_term: bool = True, kd_metric: str = "mse"):
        super().__init__()
        self.name = name
        self.weights = parse_loss_name(name, weights)
        self.kd = MSEDistillationLoss(kd_metric)
        self.token_kd = HardAlignmentTokenLoss()
        self.ot = OTDistillationLoss(**(ot_options or {}), idf=idf)
        self.kd_english_term = kd_english_term

    @property
    def needs_student_en(self) -> bool:
        return "kd" in self.weights and self.kd_english_term

    def components(self, student_l, student_en, teacher_en) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """Each named component's unweighted loss, and the logs of all."""
        values, logs = {}, {}
        for component in self.weights:
            if component == "kd":
                value, parts = self.kd(student_l, student_en if self.kd_english_term else None, teacher_en)
            elif component == "token-kd":
                value, parts = self.token_kd(student_l, teacher_en)
            else:
                value, parts = self.ot(student_l, teacher_en)
            values[component] = value
            logs.update(parts)
        return values, logs

    def forward(self, student_l, student_en, teacher_en) -> tuple[torch.Tensor, dict[str, float]]:
        values, logs = self.components(student_l, student_en, teacher_en)
        total = sum(self.weights[c] * v for c, v in values.items())
        if not torch.isfinite(total):
            raise FloatingPointError(f"loss {self.name} is NaN or inf ({logs})")
        logs["loss"] = float(total.detach())
        return total, logs
