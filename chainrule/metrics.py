"""Classification metrics on NumPy arrays (Tensors are accepted and read as arrays).

Predictions may be given as labels, shape (n,), or as scores, shape (n, k) — logits or
probabilities, one column per class — in which case the predicted label is the argmax.
"""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "confusion_matrix", "top_k_accuracy"]


def _labels(name, y, what="y_true", allow_strings=False):
    """1-D labels: integers (bools and integral floats are converted), or strings where allowed."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name}: {what} must be a 1-D array of labels, got shape {y.shape}")
    kind = y.dtype.kind
    if kind in "iu":
        return y
    if kind == "b":
        return y.astype(np.int64)
    if kind == "f":
        fractional = ~np.isfinite(y) | (y != np.round(y))
        if fractional.any():
            bad = y[fractional][:5].tolist()
            raise ValueError(f"{name}: {what} must hold integer labels, got non-integral values {bad}")
        return y.astype(np.int64)
    if kind in "USO" and allow_strings:
        return y
    raise TypeError(f"{name}: {what} must hold integer class labels{' or strings' if allow_strings else ''}, "
                    f"got dtype {y.dtype}" + ("" if allow_strings else
                                              "; map other labels to 0..k-1 first, e.g. with "
                                              "np.unique(y, return_inverse=True)"))


def _predicted(name, y_true, y_pred, allow_strings=False):
    y_true = _labels(name, y_true, allow_strings=allow_strings)
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2:
        if y_pred.shape[1] < 2:
            raise ValueError(f"{name}: y_pred of shape {y_pred.shape} is one score or probability per "
                             "sample, whose threshold is not known here; pass the predicted labels, "
                             "e.g. (p[:, 0] > 0.5).astype(int) for probabilities, > 0 for logits")
        if y_true.dtype.kind not in "iu":
            raise TypeError(f"{name}: scores (n, k) predict class indices 0..k-1, so y_true must hold "
                            f"integer labels, got dtype {y_true.dtype}")
        y_pred = np.argmax(y_pred, axis=1)
    elif y_pred.ndim != 1:
        raise ValueError(f"{name}: y_pred must be labels (n,) or scores (n, k), got shape {y_pred.shape}")
    else:
        y_pred = _labels(name, y_pred, "y_pred", allow_strings=allow_strings)
    if len(y_pred) != len(y_true):
        raise ValueError(f"{name}: y_true has {len(y_true)} samples but y_pred has {len(y_pred)}")
    if (y_true.dtype.kind in "US") != (y_pred.dtype.kind in "US"):
        raise TypeError(f"{name}: y_true ({y_true.dtype}) and y_pred ({y_pred.dtype}) hold different kinds "
                        "of labels (strings and numbers); no sample could match")
    return y_true, y_pred


def accuracy(y_true, y_pred):
    """The fraction of samples whose predicted label equals the true one.

    Labels are integers (integral floats are accepted) or, given as labels, strings.
    """
    y_true, y_pred = _predicted("accuracy", y_true, y_pred, allow_strings=True)
    if len(y_true) == 0:
        raise ValueError("accuracy: no samples")
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, num_classes=None):
    """``C[i, j]`` = the number of samples of true class i predicted as class j (int64)."""
    y_true, y_pred = _predicted("confusion_matrix", y_true, y_pred)
    # int64 before any arithmetic: uint8 labels (MNIST's own) would wrap in y_true * num_classes
    y_true, y_pred = y_true.astype(np.int64, copy=False), y_pred.astype(np.int64, copy=False)
    if num_classes is None:
        num_classes = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    for what, y in (("y_true", y_true), ("y_pred", y_pred)):
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"confusion_matrix: {what} has labels outside 0..{num_classes - 1} "
                             f"(min {y.min()}, max {y.max()})")
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def top_k_accuracy(y_true, scores, k=5):
    """The fraction of samples whose true label is among the ``k`` highest scores.

    Ties are broken as ``argmax`` breaks them, by the lower class index, so ``k=1`` gives the
    accuracy of the argmax (constant scores put classes ``0..k-1`` in the top k, not every
    class).  NaN scores are refused.
    """
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
    if scores.dtype.kind in "fc" and np.isnan(scores).any():
        rows = np.flatnonzero(np.isnan(scores).any(axis=1))
        raise ValueError(f"top_k_accuracy: scores contain NaN (rows {rows[:6].tolist()}"
                         f"{', ...' if len(rows) > 6 else ''}); no ranking is defined for them")
    # the rank of the true class: the classes scoring higher, and the equal ones with a lower index
    true_scores = np.take_along_axis(scores, y_true[:, None], axis=1)
    ahead = (scores > true_scores) | ((scores == true_scores) & (np.arange(num_classes) < y_true[:, None]))
    return float(np.mean(np.sum(ahead, axis=1) < k))
