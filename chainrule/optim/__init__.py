"""Optimizers (``SGD``, ``Adam``, ``AdamW``, ``RMSprop``), learning-rate schedules
(``chainrule.optim.lr_scheduler``) and gradient clipping (``clip_grad_norm_``)."""

from __future__ import annotations

from . import lr_scheduler
from .lr_scheduler import CosineAnnealingLR, ExponentialLR, LinearWarmup, StepLR
from .optimizers import SGD, Adam, AdamW, Optimizer, RMSprop, clip_grad_norm_

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "clip_grad_norm_", "lr_scheduler", "StepLR",
           "ExponentialLR", "CosineAnnealingLR", "LinearWarmup"]
