"""Optimizers (``SGD``, ``Adam``, ``AdamW``, ``RMSprop``), learning-rate schedules
(``chainrule.optim.lr_scheduler``) and gradient clipping (``clip_grad_norm_``,
``clip_grad_value_``)."""

from __future__ import annotations

from . import lr_scheduler
from .lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearWarmup,
    MultiStepLR,
    ReduceLROnPlateau,
    StepLR,
)
from .optimizers import SGD, Adam, AdamW, Optimizer, RMSprop, clip_grad_norm_, clip_grad_value_

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "clip_grad_norm_", "clip_grad_value_",
           "lr_scheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR",
           "LinearWarmup", "ReduceLROnPlateau"]
