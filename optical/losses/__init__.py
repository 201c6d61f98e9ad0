"""Distillation losses: OT (OPTICAL), sentence-level KD-MSE, contrastive KD, hard-aligned token KD, and their
weighted mix."""

from optical.config import parse_loss_name
from optical.losses.combined import LOSSES, DistillationLoss, register_loss
from optical.losses.kd import ContrastiveDistillationLoss, HardAlignmentTokenLoss, MSEDistillationLoss, \
    contrastive_distillation_loss, hard_alignment_token_loss, mse_distillation_loss
from optical.losses.ot_distill import IDFWeights, OTDistillationLoss, ot_distillation_loss, plan_row_entropy

__all__ = ["LOSSES", "ContrastiveDistillationLoss", "DistillationLoss", "HardAlignmentTokenLoss", "IDFWeights",
           "MSEDistillationLoss", "OTDistillationLoss", "contrastive_distillation_loss", "hard_alignment_token_loss",
           "mse_distillation_loss", "ot_distillation_loss", "parse_loss_name", "plan_row_entropy", "register_loss"]
