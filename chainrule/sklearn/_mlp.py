"""Multilayer perceptrons as scikit-learn estimators, trained by chainrule's engine and optimizers.

The parameters and their layout are scikit-learn's: ``coefs_[i]`` of shape (in, out) and
``intercepts_[i]`` of shape (out,), initialised with the same Glorot-uniform draws from
``random_state``.  The network is ``a = h W + b`` layer after layer with the hidden activation
between, and a fused loss on top (softmax or binary cross-entropy, or half squared error).

Stochastic solvers run the lecture's minibatch loop: forward on chainrule Tensors that share
their arrays with ``coefs_``, one ``backward()``, and a ``chainrule.optim`` step that updates the
arrays in place (the L2 penalty ``α/(2n)‖W‖²`` enters as the optimizer's weight decay ``α/n``,
which is its exact gradient).  ``solver="lbfgs"`` minimises ``mlp_objective`` with scipy.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MultiOutputMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, shuffle
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import numpy as cnp
from .. import special
from ..nn.activations import get_activation, maxout
from ..nn.module import Parameter
from ..optim import SGD, Adam
from ._base import minimize_lbfgs, normalised_weights
from ._losses import half_squared_error, sigmoid_cross_entropy, softmax_cross_entropy

__all__ = ["MLPClassifier", "MLPRegressor", "mlp_forward", "mlp_objective"]

_ACTIVATIONS = ("identity", "logistic", "tanh", "relu", "maxout")
_LOSSES = {"softmax": softmax_cross_entropy, "logistic": sigmoid_cross_entropy,
           "identity": half_squared_error}


# --------------------------------------------------------------------------- the network

def mlp_forward(params, X, activation, pieces=2):
    """The output layer's pre-activation for ``params = [W₀, b₀, W₁, b₁, ...]`` (Ws of shape (in, out)).

    With ``activation="maxout"`` each hidden layer has ``units · pieces`` linear outputs and keeps
    the maximum of each group of ``pieces`` consecutive ones.
    """
    f = None if activation == "maxout" else get_activation(activation)
    h = X
    last = len(params) - 2
    for i in range(0, len(params), 2):
        h = cnp.matmul(h, params[i]) + params[i + 1]
        if i < last:
            h = maxout(h, pieces) if f is None else f(h)
    return h


def mlp_objective(params, X, T, p, alpha, out_activation, activation, pieces=2):
    """``Σᵢ pᵢ Lᵢ + ½ alpha Σ_layers ‖W‖²``: the fused data loss named by ``out_activation``
    (``"softmax"``, ``"logistic"`` or ``"identity"``) plus the L2 penalty on the weights only."""
    loss = _LOSSES[out_activation](mlp_forward(params, X, activation, pieces), T, p)
    if alpha:
        loss = loss + 0.5 * alpha * sum(cnp.vdot(W, W) for W in params[0::2])
    return loss


# --------------------------------------------------------------------------- the estimators

def _stochastic(estimator):
    return estimator.solver in ("sgd", "adam")


class _BaseMLP(BaseEstimator):
    _is_classifier = False

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 maxout_pieces=2):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.maxout_pieces = maxout_pieces

    # ---- checks

    def _check_params(self):
        name = type(self).__name__
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, (int, np.integer)) else list(sizes)
        if not all(isinstance(s, (int, np.integer)) and s >= 1 for s in sizes):
            raise ValueError(f"{name}: hidden_layer_sizes must be positive integers, "
                             f"got {self.hidden_layer_sizes!r}")
        checks = [
            (self.activation in _ACTIVATIONS, f"activation must be one of {_ACTIVATIONS}"),
            (self.solver in ("adam", "sgd", "lbfgs"), "solver must be 'adam', 'sgd' or 'lbfgs'"),
            (self.learning_rate in ("constant", "invscaling", "adaptive"),
             "learning_rate must be 'constant', 'invscaling' or 'adaptive'"),
            (float(self.alpha) >= 0, "alpha must be ≥ 0"),
            (float(self.learning_rate_init) > 0, "learning_rate_init must be > 0"),
            (isinstance(self.max_iter, (int, np.integer)) and self.max_iter >= 1,
             "max_iter must be an integer ≥ 1"),
            (float(self.tol) >= 0, "tol must be ≥ 0"),
            (0 <= float(self.momentum) <= 1, "momentum must be in [0, 1]"),
            (0 < float(self.validation_fraction) < 1, "validation_fraction must be in (0, 1)"),
            (0 <= float(self.beta_1) < 1 and 0 <= float(self.beta_2) < 1,
             "beta_1 and beta_2 must be in [0, 1)"),
            (float(self.epsilon) > 0, "epsilon must be > 0"),
            (isinstance(self.n_iter_no_change, (int, np.integer)) and self.n_iter_no_change >= 1,
             "n_iter_no_change must be an integer ≥ 1"),
            (self.batch_size == "auto"
             or (isinstance(self.batch_size, (int, np.integer)) and self.batch_size >= 1),
             "batch_size must be 'auto' or an integer ≥ 1"),
            (isinstance(self.maxout_pieces, (int, np.integer)) and self.maxout_pieces >= 1,
             "maxout_pieces must be an integer ≥ 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"{name}: {message}; got {self.get_params()}")
        return [int(s) for s in sizes]

    # ---- parameters

    def _initialize(self, n_features, n_outputs, dtype):
        """Glorot-uniform weights and biases, bound ``√(f / (fan_in + fan_out))`` with ``f = 2``
        for logistic units and 6 otherwise, drawn in scikit-learn's order from ``random_state``."""
        units = [n_features] + self._sizes + [n_outputs]
        pieces = self.maxout_pieces if self.activation == "maxout" else 1
        factor = 2.0 if self.activation == "logistic" else 6.0
        self.coefs_, self.intercepts_ = [], []
        for i, (fan_in, fan_out) in enumerate(zip(units[:-1], units[1:])):
            width = fan_out * pieces if i < len(units) - 2 else fan_out
            bound = np.sqrt(factor / (fan_in + width))
            self.coefs_.append(self._random_state.uniform(-bound, bound, (fan_in, width)).astype(dtype))
            self.intercepts_.append(self._random_state.uniform(-bound, bound, width).astype(dtype))
        self.n_layers_ = len(units)
        self.n_outputs_ = n_outputs
        self.t_ = 0
        self.n_iter_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self.best_loss_ = np.inf
        self.validation_scores_ = [] if self.early_stopping else None
        self.best_validation_score_ = -np.inf if self.early_stopping else None
        self._leaves = None
        self._optimizer = None

    def _parameters(self):
        """Leaf tensors sharing their arrays with ``coefs_`` and ``intercepts_`` (relinked after
        unpickling or after the lists were replaced), in the order W₀, b₀, W₁, b₁, ..."""
        arrays = [a for pair in zip(self.coefs_, self.intercepts_) for a in pair]
        if self._leaves is None or len(self._leaves) != len(arrays):
            self._leaves = [Parameter(a) for a in arrays]
            self._optimizer = None
        for leaf, a in zip(self._leaves, arrays):
            if leaf.data is not a:
                leaf.data = a
        return self._leaves

    def _make_optimizer(self, leaves):
        groups = [{"params": leaves[0::2]}, {"params": leaves[1::2], "weight_decay": 0.0}]
        if self.solver == "adam":
            return Adam(groups, lr=float(self.learning_rate_init), betas=(self.beta_1, self.beta_2),
                        eps=float(self.epsilon))
        return SGD(groups, lr=float(self.learning_rate_init), momentum=float(self.momentum),
                   nesterov=bool(self.nesterovs_momentum) and self.momentum > 0)

    # ---- fitting

    def _weights(self, sample_weight, X):
        if sample_weight is None:
            return None
        normalised_weights(sample_weight, X, type(self).__name__)      # checks shape and sign
        return np.asarray(sample_weight, dtype=X.dtype).reshape(-1)

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        self._sizes = self._check_params()
        first = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_xy(X, y, reset=first)
        T = self._encode(y, classes, first).astype(X.dtype)
        sw = self._weights(sample_weight, X)
        if first:
            self._random_state = check_random_state(self.random_state)
            self._initialize(X.shape[1], T.shape[1], X.dtype)
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, T, sw)
        else:
            self._fit_stochastic(X, y, T, sw, incremental)
        return self

    def _fit_lbfgs(self, X, T, sw):
        p = np.full(X.shape[0], 1.0 / X.shape[0]) if sw is None else sw / sw.sum()
        total = X.shape[0] if sw is None else float(sw.sum())
        p = p / T.shape[1] if self._out_activation == "identity" else p
        params = [np.asarray(a, np.float64) for pair in zip(self.coefs_, self.intercepts_) for a in pair]
        self.loss_curve_ = []
        params, self.n_iter_ = minimize_lbfgs(
            mlp_objective, params,
            (X.astype(np.float64), T.astype(np.float64), p, float(self.alpha) / total, self._out_activation,
             self.activation, self.maxout_pieces),
            tol=self.tol, max_iter=self.max_iter, max_fun=self.max_fun, name=type(self).__name__,
            callback=self.loss_curve_.append)
        dtype = X.dtype
        self.coefs_ = [W.astype(dtype) for W in params[0::2]]
        self.intercepts_ = [b.astype(dtype) for b in params[1::2]]
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else float(
            mlp_objective(params, X, T, p, float(self.alpha) / total, self._out_activation, self.activation,
                          self.maxout_pieces))

    def _fit_stochastic(self, X, y, T, sw, incremental):
        name = type(self).__name__
        if self.early_stopping and incremental:
            raise ValueError(f"{name}: partial_fit does not support early_stopping=True")
        X_val = y_val = sw_val = None
        if self.early_stopping:
            stratify = y if self._is_classifier else None
            parts = train_test_split(X, T, y, *(() if sw is None else (sw,)), random_state=self._random_state,
                                     test_size=self.validation_fraction, stratify=stratify)
            X, X_val, T, _, _, y_val = parts[:6]
            if sw is not None:
                sw, sw_val = parts[6], parts[7]
            if X_val.shape[0] < 2:
                raise ValueError(f"{name}: the validation set is too small ({X_val.shape[0]} samples); "
                                 "increase validation_fraction or use more data")
        n = X.shape[0]
        batch = min(200, n) if self.batch_size == "auto" else int(self.batch_size)
        if batch > n and self.batch_size != "auto":
            warnings.warn(f"{name}: batch_size={batch} is larger than the {n} training samples; using {n}",
                          stacklevel=3)
        batch = min(batch, n)

        leaves = self._parameters()
        if self._optimizer is None or not incremental:
            self._optimizer = self._make_optimizer(leaves)
        opt = self._optimizer
        decay_group, weights = opt.param_groups[0], leaves[0::2]
        alpha = float(self.alpha)
        loss_fn = _LOSSES[self._out_activation]
        act, pieces = self.activation, self.maxout_pieces
        k_scale = 1.0 / T.shape[1] if self._out_activation == "identity" else 1.0
        uniform = {}                                   # 1/batch weights, one array per batch size
        order = np.arange(n)
        max_iter = 1 if incremental else self.max_iter
        for _ in range(max_iter):
            if self.shuffle:
                order = shuffle(order, random_state=self._random_state)
            accumulated = 0.0
            for start in range(0, n, batch):
                idx = order[start:start + batch]
                m = idx.shape[0]
                if sw is None:
                    total = float(m)
                    p = uniform.get(m)
                    if p is None:
                        p = uniform[m] = np.full(m, k_scale / m, X.dtype)
                else:
                    swb = sw[idx]
                    total = float(swb.sum())
                    if not total > 0:
                        continue                       # a batch of zero weight carries no gradient
                    p = swb * (k_scale / total)
                opt.zero_grad()
                loss = loss_fn(mlp_forward(leaves, X[idx], act, pieces), T[idx], p)
                loss.backward()
                value = loss.item()
                if alpha:
                    value += 0.5 * alpha / total * sum(float(np.vdot(W._value, W._value)) for W in weights)
                decay_group["weight_decay"] = alpha / total     # ∂(α/(2n)‖W‖²)/∂W = (α/n) W
                opt.step()
                accumulated += value * m
            self.n_iter_ += 1
            self.t_ += n
            self.loss_ = accumulated / n
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
            self._update_no_improvement_count(X_val, y_val, sw_val)
            if self.solver == "sgd" and self.learning_rate == "invscaling":
                for group in opt.param_groups:
                    group["lr"] = float(self.learning_rate_init) / (self.t_ + 1) ** float(self.power_t)
            if self._no_improvement_count > self.n_iter_no_change:
                lr = opt.param_groups[0]["lr"]
                if self.solver == "sgd" and self.learning_rate == "adaptive" and lr > 1e-6:
                    for group in opt.param_groups:
                        group["lr"] = lr / 5.0
                    self._no_improvement_count = 0
                else:
                    break
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(f"{name}: stochastic optimizer reached max_iter={self.max_iter} epochs without "
                              f"converging (tol={self.tol})", ConvergenceWarning, stacklevel=3)
        if self.early_stopping:
            for a, best in zip(self.coefs_ + self.intercepts_, self._best_coefs + self._best_intercepts):
                np.copyto(a, best)

    def _update_no_improvement_count(self, X_val, y_val, sw_val):
        tol = float(self.tol)
        if self.early_stopping:
            score = self._validation_score(X_val, y_val, sw_val)
            self.validation_scores_.append(score)
            if score < self.best_validation_score_ + tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_coefs = [W.copy() for W in self.coefs_]
                self._best_intercepts = [b.copy() for b in self.intercepts_]
        else:
            if self.loss_curve_[-1] > self.best_loss_ - tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    # ---- prediction

    def _output(self, X):
        check_is_fitted(self)
        return self._forward(validate_data(self, X, reset=False, dtype=(np.float64, np.float32)))

    def _forward(self, X):
        params = [a for pair in zip(self.coefs_, self.intercepts_) for a in pair]
        return mlp_forward(params, X, self.activation, self.maxout_pieces)



class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multilayer perceptron classifier: softmax output for more than two classes, one logistic
    unit for two; trained on cross-entropy plus ``alpha/(2n)‖W‖²``.

    Parameters, defaults and fitted attributes are scikit-learn's ``MLPClassifier``'s, plus
    ``activation="maxout"`` (with ``maxout_pieces`` linear pieces per hidden unit).
    """

    _is_classifier = True

    def _validate_xy(self, X, y, reset):
        X, y = validate_data(self, X, y, reset=reset, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        return X, y

    def _encode(self, y, classes, first):
        name = type(self).__name__
        if first:
            labels = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            if labels.size < 2:
                raise ValueError(f"{name}: needs samples of at least 2 classes in the data, but the data "
                                 f"contain only one class: {labels[0]!r}")
            self.classes_ = labels
            self._out_activation = "softmax" if labels.size > 2 else "logistic"
            self.out_activation_ = self._out_activation
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"{name}: labels {unknown.tolist()} are not among "
                             f"classes_ {self.classes_.tolist()}")
        index = np.searchsorted(self.classes_, y)
        if self.classes_.size == 2:
            return (index == 1).astype(np.float64)[:, None]
        return np.eye(self.classes_.size)[index]

    def fit(self, X, y, sample_weight=None):
        """Train on ``(X, y)`` from a fresh initialisation (or from the last fit with ``warm_start``)."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over ``(X, y)``; ``classes`` (all labels) is required on the first call."""
        if not hasattr(self, "coefs_") and classes is None:
            raise ValueError(f"{type(self).__name__}: classes must be passed on the first call to "
                             "partial_fit")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _validation_score(self, X, y, sw):
        return accuracy_score(y, self._labels(self._forward(X)), sample_weight=sw)

    def predict_proba(self, X):
        a = self._output(X)
        if self.classes_.size == 2:
            p1 = special.sigmoid(a[:, 0])
            return np.column_stack([1.0 - p1, p1])
        return special.softmax(a, axis=1)

    def predict_log_proba(self, X):
        """``log predict_proba(X)``, taken of the probabilities themselves (as scikit-learn does) so
        that the two always agree, also where a probability underflows to 0."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        return self._labels(self._output(X))

    def _labels(self, a):
        index = (a[:, 0] > 0).astype(np.intp) if self.classes_.size == 2 else np.argmax(a, axis=1)
        return self.classes_[index]


class MLPRegressor(MultiOutputMixin, RegressorMixin, _BaseMLP):
    """A multilayer perceptron regressor: identity output, half squared error plus
    ``alpha/(2n)‖W‖²``; one output per column of ``y``.

    Parameters, defaults and fitted attributes are scikit-learn's ``MLPRegressor``'s, plus
    ``activation="maxout"`` (with ``maxout_pieces`` linear pieces per hidden unit).
    """

    _out_activation = "identity"

    def _validate_xy(self, X, y, reset):
        X, y = validate_data(self, X, y, reset=reset, dtype=(np.float64, np.float32), multi_output=True,
                             y_numeric=True)
        return X, y

    def _encode(self, y, classes, first):
        self._y_ndim = np.ndim(y) if first else self._y_ndim
        self.out_activation_ = "identity"
        return np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)

    def fit(self, X, y, sample_weight=None):
        """Train on ``(X, y)`` from a fresh initialisation (or from the last fit with ``warm_start``)."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``."""
        return self._fit(X, y, sample_weight, incremental=True)

    def _validation_score(self, X, y, sw):
        a = self._forward(X)
        return r2_score(y, a[:, 0] if self._y_ndim == 1 else a, sample_weight=sw)

    def predict(self, X):
        a = self._output(X)
        return a[:, 0] if self._y_ndim == 1 else a
