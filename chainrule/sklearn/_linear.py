"""The lecture's single neurons as scikit-learn estimators, fitted by L-BFGS on chainrule gradients.

Each model minimises a convex objective; the ``*_objective`` functions below are that objective,
written with chainrule's differentiable NumPy, and ``value_and_grad`` of it feeds
``scipy.optimize.minimize(method="L-BFGS-B")``.  The data are standardised first (a
preconditioner only: the penalty is rewritten so that the optimum is the original problem's).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MultiOutputMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import numpy as cnp
from .. import special
from .._core import _primal, _shape
from ._base import check_choice, check_number, minimize_lbfgs, normalised_weights, standardize
from ._losses import half_squared_error, sigmoid_cross_entropy, softmax_cross_entropy

__all__ = ["LinearRegression", "LogisticRegression", "HingeClassifier", "ridge_objective",
           "logistic_objective", "hinge_objective"]


# --------------------------------------------------------------------------- objectives

def _l2(V, penalty):
    """``½ Σ_j penalty_j Σ_k V_jk²`` (one penalty per input feature, i.e. per row of ``V``)."""
    return 0.5 * cnp.sum(cnp.square(V) * penalty[:, None])


def _scores(params, X):
    V = params[0]
    a = cnp.matmul(X, V)
    return a + params[1] if len(params) > 1 else a


def ridge_objective(params, X, Y, p, penalty):
    """``½ Σᵢ pᵢ ‖Yᵢ - Xᵢ V‖² + ½ Σ_j penalty_j ‖V_j‖²`` for ``params = [V]``, ``V`` of shape (d, k)."""
    return half_squared_error(_scores(params, X), Y, p) + _l2(params[0], penalty)


def logistic_objective(params, X, T, p, penalty, multinomial):
    """``Σᵢ pᵢ Lᵢ + ½ Σ_j penalty_j ‖V_j‖²`` with ``Lᵢ`` the softmax cross-entropy (``multinomial``)
    or the binary log-loss of the scores ``X V + b``; ``params = [V]`` or ``[V, b]``."""
    loss = softmax_cross_entropy if multinomial else sigmoid_cross_entropy
    return loss(_scores(params, X), T, p) + _l2(params[0], penalty)


def hinge_objective(params, X, Y, p, penalty, loss, multi_class):
    """``Σᵢ pᵢ Lᵢ + ½ Σ_j penalty_j ‖V_j‖²`` for scores ``s = X V + b``.

    ``multi_class="ovr"``: ``Y`` holds ±1 per class column and ``Lᵢ = Σ_k ℓ(1 - Y_ik s_ik)``;
    ``"weston_watkins"``: ``Y`` holds the labels and ``Lᵢ = Σ_{k≠yᵢ} ℓ(1 + s_ik - s_iyᵢ)``;
    ``ℓ(z) = max{0, z}`` (``loss="hinge"``) or ``max{0, z}²`` (``"squared_hinge"``).
    """
    s = _scores(params, X)
    if multi_class == "ovr":
        z = 1.0 - Y * s
        active = _primal(z) > 0
    else:
        n = Y.shape[0]
        correct = cnp.reshape(s[np.arange(n), Y], (n, 1))
        z = (s - correct) + 1.0
        active = (_primal(z) > 0) & (np.arange(_shape(s)[1]) != Y[:, None])    # never the true class
    r = cnp.where(active, z, 0.0)          # the derivative is taken as 0 at the kink, like relu
    if loss == "squared_hinge":
        r = cnp.square(r)
    return cnp.sum(r * p[:, None]) + _l2(params[0], penalty)


# --------------------------------------------------------------------------- shared fitting

class _LinearModel(BaseEstimator):
    """Fitting of ``scores = X coef_ᵀ + intercept_`` by L-BFGS in standardised coordinates."""

    _ftol = 64 * np.finfo(float).eps            # L-BFGS-B's relative decrease test, as scikit-learn's

    def _solve(self, objective, X, targets, p, penalty, extra, n_outputs):
        """Minimise ``objective([V, b], Xs, targets, p, penalty / scale², *extra)`` and return
        ``(coef, intercept)`` in the original coordinates (coef of shape (n_outputs, d))."""
        name = type(self).__name__
        check_number(name, "tol", self.tol, low=0, low_open=True)
        check_number(name, "max_iter", self.max_iter, low=1, integer=True)
        Xs, mean, scale = standardize(X, p, self.fit_intercept)
        d = X.shape[1]
        params = [np.zeros((d, n_outputs))]
        if self.fit_intercept:
            params.append(np.zeros(n_outputs))
        params, self.n_iter_ = minimize_lbfgs(
            objective, params, (Xs, targets, p, penalty / np.square(scale)) + tuple(extra),
            tol=self.tol, max_iter=self.max_iter, name=name, ftol=self._ftol)
        coef = (params[0] / scale[:, None]).T
        intercept = params[1] - coef @ mean if self.fit_intercept else np.zeros(n_outputs)
        return coef, intercept

    def _validate(self, X, y, **kwargs):
        """``(X, y, X64)``: float32 data stay float32 (the fitted coefficients follow ``X``'s dtype);
        the solver itself always runs in float64 on ``X64``."""
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), **kwargs)
        return X, y, X.astype(np.float64, copy=False)

    def _validated(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=(np.float64, np.float32))

    def _scores(self, X):
        X = self._validated(X)
        return X @ self.coef_.T + self.intercept_


class _LinearClassifier(ClassifierMixin, _LinearModel):
    def _fit_classifier(self, X, y, sample_weight):
        """Validate, encode the classes and weigh the samples: ``(dtype, X64, y_index, p, penalty)``,
        with ``dtype`` the input's, which the fitted coefficients keep."""
        name = type(self).__name__
        check_number(name, "C", self.C, low=0, low_open=True)
        X, y, X64 = self._validate(X, y)
        y_index = self._classes(y)
        p, total = normalised_weights(sample_weight, X64, name)
        penalty = np.full(X.shape[1], 1.0 / (float(self.C) * total))
        return X.dtype, X64, y_index, p, penalty

    def _classes(self, y):
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError(f"{type(self).__name__}: needs samples of at least 2 classes in the data, "
                             f"but the data contain only one class: {self.classes_[0]!r}")
        return y_index

    def decision_function(self, X):
        """The scores ``X coef_ᵀ + intercept_``: shape (n,) for two classes, (n, n_classes) for more."""
        scores = self._scores(X)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X):
        scores = self.decision_function(X)
        index = (scores > 0).astype(np.intp) if scores.ndim == 1 else np.argmax(scores, axis=1)
        return self.classes_[index]


# --------------------------------------------------------------------------- estimators

class LinearRegression(MultiOutputMixin, RegressorMixin, _LinearModel):
    """A linear neuron ``ŷ = wᵀx + b`` trained on squared loss with an L2 penalty ``alpha``.

    Minimises ``Σᵢ sᵢ (yᵢ - wᵀxᵢ - b)² + alpha ‖w‖²`` (``sᵢ`` the sample weights, 1 by default;
    ``b`` unpenalised), which is scikit-learn's ``Ridge(alpha=alpha)`` objective; ``alpha=0`` is
    ordinary least squares, scikit-learn's ``LinearRegression``: where its minimiser is not unique
    (collinear features, more features than samples) ``coef_`` is the one of smallest norm, as
    scikit-learn's.  A 2-D ``y`` fits one neuron per column (``coef_`` of shape
    (n_targets, n_features)).  float32 data give float32 ``coef_`` and predictions (the solver
    runs in float64).

    Parameters: ``alpha`` (≥ 0), ``fit_intercept``, ``tol`` (L-BFGS-B's gradient tolerance in
    standardised coordinates: features and targets of unit spread), ``max_iter``.
    """

    # the residual keeps the loss far from 0, so relative decreases stop L-BFGS-B early: gtol decides
    _ftol = 0.0

    def __init__(self, alpha=0.0, *, fit_intercept=True, tol=1e-10, max_iter=1000):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, X, y, sample_weight=None):
        name = type(self).__name__
        check_number(name, "alpha", self.alpha, low=0)
        X, y, X64 = self._validate(X, y, y_numeric=True, multi_output=True)
        y = np.asarray(y, dtype=np.float64)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        p, total = normalised_weights(sample_weight, X64, name)
        y_mean = p @ Y if self.fit_intercept else np.zeros(Y.shape[1])
        # with centred columns the unpenalised intercept is the weighted mean of y: solved exactly
        penalty = np.full(X.shape[1], float(self.alpha) / total)
        # targets of unit spread: tol is an absolute gradient tolerance, and y·1e-8 would otherwise
        # stop the solver at once (the minimiser scales with y, the penalty is unchanged)
        Yc = Y - y_mean
        y_scale = np.sqrt(p @ np.square(Yc))
        y_scale[~(y_scale > 0)] = 1.0
        coef, intercept = self._solve(ridge_objective, X64, Yc / y_scale, p, penalty, (), Y.shape[1])
        coef, intercept = coef * y_scale[:, None], intercept * y_scale
        if self.alpha == 0:
            coef = _minimum_norm(coef, X64, p, self.fit_intercept)
            intercept = -coef @ (p @ X64) if self.fit_intercept else intercept
        intercept = intercept + y_mean
        coef, intercept = coef.astype(X.dtype), intercept.astype(X.dtype)
        if y.ndim == 1:
            coef, intercept = coef[0], intercept[0]
        self.coef_, self.intercept_ = coef, intercept
        return self

    def predict(self, X):
        return self._scores(X)


class LogisticRegression(_LinearClassifier):
    """A logistic neuron ``P(y=1 | x) = σ(wᵀx + b)`` trained on log-loss; softmax for > 2 classes.

    Minimises scikit-learn's objective ``½ ‖W‖² + C Σᵢ sᵢ Lᵢ`` (``Lᵢ`` the log-loss, or the
    multinomial cross-entropy with one row of ``W`` per class; the intercept is unpenalised), so
    ``coef_`` equals ``sklearn.linear_model.LogisticRegression(C=C)``'s at the same ``C`` (both
    solved to a tight ``tol``).  With more than two classes the intercepts, defined only up to a
    common shift, are centred to sum to zero.
    """

    def __init__(self, C=1.0, *, fit_intercept=True, tol=1e-4, max_iter=100):
        self.C = C
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, X, y, sample_weight=None):
        dtype, X64, y_index, p, penalty = self._fit_classifier(X, y, sample_weight)
        k = self.classes_.size
        multinomial = k > 2
        T = np.eye(k)[y_index] if multinomial else (y_index == 1).astype(np.float64)[:, None]
        coef, intercept = self._solve(logistic_objective, X64, T, p, penalty, (multinomial,),
                                      k if multinomial else 1)
        if multinomial and self.fit_intercept:
            intercept = intercept - intercept.mean()
        self.coef_, self.intercept_ = coef.astype(dtype), intercept.astype(dtype)
        return self

    def predict_proba(self, X):
        """``P(class | x)`` for each class in ``classes_``, shape (n, n_classes)."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p1 = special.sigmoid(scores)
            return np.column_stack([1.0 - p1, p1])
        return special.softmax(scores, axis=1)

    def predict_log_proba(self, X):
        """``log predict_proba(X)``, taken of the probabilities themselves (as scikit-learn does) so
        that the two always agree, also where a probability underflows to 0."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))


class HingeClassifier(_LinearClassifier):
    """A linear classifier trained on the hinge loss (the lecture's alternative to log-loss).

    Minimises ``½ ‖W‖² + C Σᵢ sᵢ Lᵢ`` with the intercept unpenalised, where for two classes
    (labels mapped to ±1) ``Lᵢ = ℓ(1 - yᵢ(wᵀxᵢ + b))`` and ``ℓ(z) = max{0, z}`` (``loss="hinge"``)
    or ``max{0, z}²`` (``loss="squared_hinge"``, the default: differentiable, so L-BFGS converges).
    With more classes, ``multi_class="ovr"`` sums one such binary problem per class (class k
    against the rest) and ``"weston_watkins"`` uses ``Lᵢ = Σ_{k≠yᵢ} ℓ(1 + s_k - s_{yᵢ})``.

    With ``fit_intercept=False`` the ``"squared_hinge"``/``"ovr"`` objective is exactly the
    primal of ``sklearn.svm.LinearSVC(loss="squared_hinge", fit_intercept=False, C=C)``; with an
    intercept, LinearSVC also penalises it (through a constant feature of value
    ``intercept_scaling``), this model does not.
    """

    def __init__(self, C=1.0, *, loss="squared_hinge", multi_class="ovr", fit_intercept=True, tol=1e-4,
                 max_iter=1000):
        self.C = C
        self.loss = loss
        self.multi_class = multi_class
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, X, y, sample_weight=None):
        name = type(self).__name__
        check_choice(name, "loss", self.loss, ("hinge", "squared_hinge"))
        check_choice(name, "multi_class", self.multi_class, ("ovr", "weston_watkins"))
        dtype, X64, y_index, p, penalty = self._fit_classifier(X, y, sample_weight)
        k = self.classes_.size
        if k == 2:
            targets, multi_class, outputs = (2.0 * y_index - 1.0)[:, None], "ovr", 1
        elif self.multi_class == "ovr":
            targets, multi_class, outputs = 2.0 * np.eye(k)[y_index] - 1.0, "ovr", k
        else:
            targets, multi_class, outputs = y_index, "weston_watkins", k
        coef, intercept = self._solve(hinge_objective, X64, targets, p, penalty, (self.loss, multi_class),
                                      outputs)
        self.coef_, self.intercept_ = coef.astype(dtype), intercept.astype(dtype)
        return self


def _minimum_norm(coef, X, p, centre):
    """The least-squares solution of smallest norm, as ``scipy.linalg.lstsq`` (scikit-learn's
    ``LinearRegression``) returns it: with collinear features (or more features than samples)
    squared loss alone has a whole affine space of minimisers, ``coef`` plus anything in the null
    space of the weighted, centred data; projecting ``coef`` onto its row space keeps the fit and
    drops the rest."""
    A = np.sqrt(p)[:, None] * (X - p @ X if centre else X)
    _, s, Vt = np.linalg.svd(A, full_matrices=False)
    rank = int(np.sum(s > s[0] * np.finfo(float).eps * max(A.shape))) if s.size and s[0] > 0 else 0
    if rank == X.shape[1]:
        return coef                          # full column rank: the minimiser is unique
    V = Vt[:rank].T
    return (coef @ V) @ V.T
