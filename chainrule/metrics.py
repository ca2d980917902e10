"""Classification metrics on NumPy arrays (Tensors are accepted and read as arrays).

Predictions may be given as labels, shape (n,), or as scores, shape (n, k) — logits or
probabilities, one column per class — in which case the predicted label is the argmax.
"""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "confusion_matrix", "top_k_accuracy"]


def _labels(name, y_true):
    y_true = np.asarray(y_true)
    if y_true.ndim != 1:
        raise ValueError(f"{name}: y_true must be a 1-D array of labels, got shape {y_true.shape}")
    if not np.issubdtype(y_true.dtype, np.integer):
        if not np.all(np.mod(y_true, 1) == 0):
            raise ValueError(f"{name}: y_true must hold integer labels, got dtype {y_true.dtype}")
        y_true = y_true.astype(np.int64)
    return y_true


def _predicted(name, y_true, y_pred):
    y_true = _labels(name, y_true)
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2:
        y_pred = np.argmax(y_pred, axis=1)
    elif y_pred.ndim != 1:
        raise ValueError(f"{name}: y_pred must be labels (n,) or scores (n, k), got shape {y_pred.shape}")
    if len(y_pred) != len(y_true):
        raise ValueError(f"{name}: y_true has {len(y_true)} samples but y_pred has {len(y_pred)}")
    return y_true, y_pred


def accuracy(y_true, y_pred):
    """The fraction of samples whose predicted label equals the true one."""
    y_true, y_pred = _predicted("accuracy", y_true, y_pred)
    if len(y_true) == 0:
        raise ValueError("accuracy: no samples")
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, num_classes=None):
    """``C[i, j]`` = the number of samples of true class i predicted as class j (int64)."""
    y_true, y_pred = _predicted("confusion_matrix", y_true, y_pred)
    y_pred = y_pred.astype(np.int64)
    if num_classes is None:
        num_classes = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    for what, y in (("y_true", y_true), ("y_pred", y_pred)):
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"confusion_matrix: {what} has labels outside 0..{num_classes - 1} "
                             f"(min {y.min()}, max {y.max()})")
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def top_k_accuracy(y_true, scores, k=5):
    """The fraction of samples whose true label is among the ``k`` highest scores."""
    y_true = _labels("top_k_accuracy", y_true)
    scores = np.asarray(scores)
    if scores.ndim != 2 or len(scores) != len(y_true):
        raise ValueError(f"top_k_accuracy: scores must have shape ({len(y_true)}, num_classes), "
                         f"got {scores.shape}")
    n, num_classes = scores.shape
    if not 1 <= k <= num_classes:
        raise ValueError(f"top_k_accuracy: k must be in 1..{num_classes}, got {k}")
    if n == 0:
        raise ValueError("top_k_accuracy: no samples")
    if y_true.min() < 0 or y_true.max() >= num_classes:
        raise ValueError(f"top_k_accuracy: labels outside 0..{num_classes - 1} "
                         f"(min {y_true.min()}, max {y_true.max()})")
    # a label is in the top k when fewer than k classes score strictly higher than it
    true_scores = np.take_along_axis(scores, y_true[:, None], axis=1)
    higher = np.sum(scores > true_scores, axis=1)
    return float(np.mean(higher < k))
