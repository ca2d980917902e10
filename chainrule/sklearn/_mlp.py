"""Multilayer perceptrons as scikit-learn estimators, trained by chainrule's engine and optimizers.

The parameters and their layout are scikit-learn's: ``coefs_[i]`` of shape (in, out) and
``intercepts_[i]`` of shape (out,), initialised with the same Glorot-uniform draws from
``random_state``.  The network is ``a = h W + b`` layer after layer with the hidden activation
between, and a fused loss on top (softmax or binary cross-entropy, or half squared error).

Stochastic solvers run the lecture's minibatch loop: forward on chainrule Tensors that share
their arrays with ``coefs_``, one ``backward()``, and an optimizer step that updates the arrays
in place (the L2 penalty ``α/(2n)‖W‖²`` enters as the optimizer's weight decay ``α/n``, which is
its exact gradient).  The two optimizers here are ``chainrule.optim.Optimizer`` subclasses with
scikit-learn's update formulas (its momentum is a velocity of steps, PyTorch's a sum of
gradients: the two differ once the learning rate changes), so that the same ``random_state``
gives the same weights as scikit-learn.  ``solver="lbfgs"`` minimises ``mlp_objective`` with scipy.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MultiOutputMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, shuffle
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import numpy as cnp
from .. import special
from ..nn.activations import get_activation, maxout
from ..nn.module import Parameter
from ..optim import Adam, Optimizer
from ..optim.optimizers import step_parameter
from ._base import (
    InvalidParameterError,
    check_choice,
    check_number,
    minimize_lbfgs,
    normalised_weights,
    warn_at_caller,
)
from ._losses import clipped_log_loss, half_squared_error, sigmoid_cross_entropy, softmax_cross_entropy

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


# --------------------------------------------------------------------------- scikit-learn's optimizers

class _VelocitySGD(Optimizer):
    """scikit-learn's SGD: a velocity of steps ``v ← μv − η(∇ + λw)``, then ``w ← w + v`` or, with
    Nesterov momentum, ``w ← w + μv − η(∇ + λw)``."""

    _state_keys = frozenset({"velocity"})

    def __init__(self, params, lr, momentum, nesterov):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=bool(nesterov), weight_decay=0.0))

    def _update(self, p, g, state, group, scratch):
        a, b = scratch
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd:
            np.multiply(p._value, wd, out=a)
            a += g
            g = a
        v = state.get("velocity")
        if v is None:
            v = state["velocity"] = np.zeros_like(p._value)
        np.multiply(g, lr, out=b)                 # b = η g
        v *= mu
        v -= b
        if group["nesterov"]:
            np.multiply(v, mu, out=a)
            np.subtract(b, a, out=b)              # w ← w − (ηg − μv)
            step_parameter(p, b)
        else:
            step_parameter(p, v, -1.0, b)         # w ← w + v


class _ScikitAdam(Adam):
    """scikit-learn's Adam, in its own arithmetic so the weights match scikit-learn's bit for bit:
    ``m ← β₁m + (1 - β₁)g`` and ``w ← w − η √(1 − β₂ᵗ)/(1 − β₁ᵗ) · m / (√v + ε)`` (ε outside the
    bias correction, where PyTorch's Adam scales it)."""

    def __init__(self, params, lr, betas, eps):
        super().__init__(params, lr=lr, betas=betas, eps=eps)

    def _moments(self, g, m, v, b1, b2, b):
        m *= b1
        np.multiply(g, 1.0 - b1, out=b)
        m += b
        v *= b2
        np.multiply(g, g, out=b)
        b *= 1.0 - b2
        v += b

    def _delta(self, m, v, lr, b1, b2, eps, t, a, b):
        np.multiply(m, lr * math.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t), out=a)
        np.sqrt(v, out=b)
        b += eps
        np.divide(a, b, out=b)
        return b


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
        """Every hyper-parameter checked on its own: an error names the estimator, the parameter and
        the bad value.  Returns the hidden layer sizes as a list."""
        name = type(self).__name__
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, (int, np.integer)) else sizes
        try:
            sizes = list(sizes)
        except TypeError:
            sizes = None
        if sizes is None or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1
                                    for s in sizes):
            raise InvalidParameterError(f"{name}: hidden_layer_sizes must be a positive integer or a "
                                        f"sequence of them, got {self.hidden_layer_sizes!r}")
        check_choice(name, "activation", self.activation, _ACTIVATIONS)
        check_choice(name, "solver", self.solver, ("lbfgs", "sgd", "adam"))
        check_choice(name, "learning_rate", self.learning_rate, ("constant", "invscaling", "adaptive"))
        check_number(name, "alpha", self.alpha, low=0)
        check_number(name, "learning_rate_init", self.learning_rate_init, low=0, low_open=True)
        check_number(name, "power_t", self.power_t, low=0)
        check_number(name, "max_iter", self.max_iter, low=1, integer=True)
        check_number(name, "tol", self.tol, low=0)
        check_number(name, "momentum", self.momentum, low=0, high=1)
        check_number(name, "validation_fraction", self.validation_fraction, low=0, high=1, low_open=True,
                     high_open=True)
        check_number(name, "beta_1", self.beta_1, low=0, high=1, high_open=True)
        check_number(name, "beta_2", self.beta_2, low=0, high=1, high_open=True)
        check_number(name, "epsilon", self.epsilon, low=0, low_open=True)
        check_number(name, "n_iter_no_change", self.n_iter_no_change, low=1, integer=True)
        check_number(name, "max_fun", self.max_fun, low=1, integer=True)
        check_number(name, "maxout_pieces", self.maxout_pieces, low=1, integer=True)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            check_number(name, "batch_size", self.batch_size, low=1, integer=True)
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
        # scikit-learn's convention: the best training loss, or None where the validation score decides
        self.best_loss_ = None if self.early_stopping else np.inf
        self.validation_scores_ = [] if self.early_stopping else None
        self.best_validation_score_ = -np.inf if self.early_stopping else None
        if self.early_stopping:                   # the weights restored at the end of the fit
            self._best_coefs = [W.copy() for W in self.coefs_]
            self._best_intercepts = [b.copy() for b in self.intercepts_]
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
        groups = [{"params": leaves[0::2]}, {"params": leaves[1::2]}]      # weight decay on W only
        if self.solver == "adam":
            return _ScikitAdam(groups, lr=float(self.learning_rate_init),
                               betas=(float(self.beta_1), float(self.beta_2)), eps=float(self.epsilon))
        return _VelocitySGD(groups, lr=float(self.learning_rate_init), momentum=float(self.momentum),
                            nesterov=self.nesterovs_momentum)

    # ---- fitting

    def _weights(self, sample_weight, X):
        if sample_weight is None:
            return None
        normalised_weights(sample_weight, X, type(self).__name__)      # checks shape and sign
        return np.asarray(sample_weight, dtype=X.dtype).reshape(-1)

    def _validate_xy(self, X, y, reset):
        X, y = validate_data(self, X, y, reset=reset, dtype=(np.float64, np.float32), multi_output=True,
                             y_numeric=not self._is_classifier)
        if y.ndim == 2 and y.shape[1] == 1:
            # scikit-learn's own words, which its estimator checks look for
            warn_at_caller("A column-vector y was passed when a 1d array was expected: "
                           f"{type(self).__name__} uses y of shape {y.shape} as shape ({y.shape[0]},); pass "
                           "y.ravel() to avoid this warning", DataConversionWarning)
            y = y[:, 0]
        return X, y

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        self._sizes = self._check_params()
        first = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_xy(X, y, reset=first)
        T = self._encode(y, classes, first).astype(X.dtype)
        sw = self._weights(sample_weight, X)
        # as scikit-learn: every call starts from random_state afresh (the same shuffles each time)
        self._random_state = check_random_state(self.random_state)
        if first:
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
            # as scikit-learn: stratified for a single output (binary classes) only
            stratify = y if self._is_classifier and T.shape[1] == 1 else None
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
            warn_at_caller(f"{name}: batch_size={batch} is larger than the {n} training samples; using {n}")
        batch = min(batch, n)

        leaves = self._parameters()
        if self._optimizer is None or not incremental:
            self._optimizer = self._make_optimizer(leaves)
        opt = self._optimizer
        decay_group, weights = opt.param_groups[0], leaves[0::2]
        alpha = float(self.alpha)
        loss_fn = _LOSSES[self._out_activation]
        act, pieces = self.activation, self.maxout_pieces
        # scikit-learn's reported squared loss averages over the outputs, but its gradient is that
        # of the sum over them: the loss is summed here and its value divided for the record
        k_scale = 1.0 / T.shape[1] if self._out_activation == "identity" else 1.0
        uniform = {}                                   # 1/batch weights, one array per batch size
        order = np.arange(n)
        max_iter = 1 if incremental else self.max_iter
        self.n_iter_ = 0                               # counts the epochs of this call, as scikit-learn
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
                        p = uniform[m] = np.full(m, 1.0 / m, X.dtype)
                else:
                    swb = sw[idx]
                    total = float(swb.sum())
                    if not total > 0:
                        continue                       # a batch of zero weight carries no gradient
                    p = swb * (1.0 / total)
                opt.zero_grad()
                out = mlp_forward(leaves, X[idx], act, pieces)
                loss = loss_fn(out, T[idx], p)
                loss.backward()
                value = (loss.item() * k_scale if self._out_activation == "identity"
                         else clipped_log_loss(self._out_activation, out.numpy(), T[idx], p))
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
                warn_at_caller(f"{name}: stochastic optimizer reached max_iter={self.max_iter} epochs "
                               f"without converging (tol={self.tol}); increase max_iter", ConvergenceWarning)
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
    unit for two, one logistic unit per label for multilabel targets (a 0/1 indicator matrix
    ``y``); trained on cross-entropy (summed over the labels) plus ``alpha/(2n)‖W‖²``.

    Parameters, defaults and fitted attributes are scikit-learn's ``MLPClassifier``'s, plus
    ``activation="maxout"`` (with ``maxout_pieces`` linear pieces per hidden unit).
    """

    _is_classifier = True

    def _validate_xy(self, X, y, reset):
        X, y = super()._validate_xy(X, y, reset)
        check_classification_targets(y)
        return X, y

    def _encode(self, y, classes, first):
        """The targets as the output layer sees them: a 0/1 column for two classes, one-hot rows
        for more, the indicator matrix itself for multilabel ``y``."""
        name = type(self).__name__
        multilabel = type_of_target(y).startswith("multilabel")
        if first:
            if multilabel:
                binarizer = LabelBinarizer().fit(y)
            else:
                labels = np.unique(y) if classes is None else np.unique(np.asarray(classes))
                if labels.size < 2:
                    raise ValueError(f"{name}: needs samples of at least 2 classes in the data, but the "
                                     f"data contain only one class: {labels[0]!r}")
                binarizer = LabelBinarizer().fit(labels)
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_
            self._out_activation = "softmax" if binarizer.y_type_ == "multiclass" else "logistic"
            self.out_activation_ = self._out_activation
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(f"{name}: classes={list(classes)!r} differs from the classes of the earlier "
                             f"fit or partial_fit, {self.classes_.tolist()}; they cannot change")
        fitted_multilabel = self._label_binarizer.y_type_.startswith("multilabel")
        if multilabel != fitted_multilabel or (multilabel and y.shape[1] != self.classes_.size):
            was = (f"a multilabel y with {self.classes_.size} labels" if fitted_multilabel
                   else f"the classes {self.classes_.tolist()}")
            raise ValueError(f"{name}: y is {type_of_target(y)} of shape {np.shape(y)}, but the model "
                             f"was fitted on {was}")
        if multilabel:
            return self._label_binarizer.transform(y).astype(np.float64)
        y = np.asarray(y)
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"{name}: labels {unknown.tolist()} are not among "
                             f"classes_ {self.classes_.tolist()}")
        # LabelBinarizer's encoding, without its target-type checks at every call (partial_fit)
        index = np.searchsorted(self.classes_, y.reshape(-1))
        if self.classes_.size == 2:
            return (index == 1).astype(np.float64)[:, None]
        return np.eye(self.classes_.size)[index]

    def fit(self, X, y, sample_weight=None):
        """Train on ``(X, y)`` from a fresh initialisation (or from the last fit with ``warm_start``)."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over ``(X, y)``; ``classes`` (all labels) is required on the first call (not for
        a multilabel ``y``, whose columns are the labels)."""
        if not hasattr(self, "coefs_") and classes is None and not type_of_target(y).startswith("multilabel"):
            raise ValueError(f"{type(self).__name__}: classes must be passed on the first call to "
                             "partial_fit")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _validation_score(self, X, y, sw):
        return accuracy_score(y, self._labels(self._forward(X)), sample_weight=sw)

    def predict_proba(self, X):
        """``P(class | x)`` for each class in ``classes_``, shape (n, n_classes); for multilabel
        targets, ``P(label k | x)`` of each label on its own (rows need not sum to 1)."""
        a = self._output(X)
        if self.n_outputs_ == 1:
            p1 = special.sigmoid(a[:, 0])
            return np.column_stack([1.0 - p1, p1])
        return special.softmax(a, axis=1) if self._out_activation == "softmax" else special.sigmoid(a)

    def predict_log_proba(self, X):
        """``log predict_proba(X)``, taken of the probabilities themselves (as scikit-learn does) so
        that the two always agree, also where a probability underflows to 0."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The predicted labels, shape (n,); for multilabel targets the 0/1 indicator matrix."""
        return self._labels(self._output(X))

    def _labels(self, a):
        if self.n_outputs_ == 1:
            return self.classes_[(a[:, 0] > 0).astype(np.intp)]
        if self._out_activation == "softmax":
            return self.classes_[np.argmax(a, axis=1)]
        return (a > 0).astype(int)                 # each label on its own: P > 1/2


class MLPRegressor(MultiOutputMixin, RegressorMixin, _BaseMLP):
    """A multilayer perceptron regressor: identity output, half squared error plus
    ``alpha/(2n)‖W‖²``; one output per column of ``y``.  With a single output (``y`` of shape
    (n,) or (n, 1)) ``predict`` returns shape (n,), as scikit-learn's.

    Parameters, defaults and fitted attributes are scikit-learn's ``MLPRegressor``'s (up to
    scikit-learn 1.8: the ``loss`` parameter of 1.9, for a Poisson loss, is not offered), plus
    ``activation="maxout"`` (with ``maxout_pieces`` linear pieces per hidden unit).
    """

    _out_activation = "identity"

    def _encode(self, y, classes, first):
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
        a = self._predicted(self._forward(X))
        if not np.all(np.isfinite(a)):
            return np.nan
        return r2_score(y, a, sample_weight=sw)

    def predict(self, X):
        return self._predicted(self._output(X))

    def _predicted(self, a):
        return a[:, 0] if a.shape[1] == 1 else a
