"""scikit-learn estimators trained by chainrule: the lecture's models, drop-in for Pipelines.

* ``LinearRegression``: a linear neuron on squared loss with an L2 penalty ``alpha`` (Ridge);
* ``LogisticRegression``: a logistic neuron on log-loss, softmax for more than two classes;
* ``HingeClassifier``: a linear classifier on the (squared) hinge loss, one-vs-rest or
  Weston–Watkins for more than two classes;
* ``MLPClassifier``, ``MLPRegressor``: multilayer perceptrons with scikit-learn's parameters and
  attributes (multilabel targets included), trained by a chainrule minibatch loop with
  scikit-learn's update formulas (``"adam"``, ``"sgd"``: the same ``random_state`` gives the same
  weights) or L-BFGS (``"lbfgs"``).

The linear models minimise their objective (``ridge_objective``, ``logistic_objective``,
``hinge_objective``) with ``scipy.optimize.minimize(method="L-BFGS-B")`` on gradients from
``chainrule.value_and_grad``.  float32 data give float32 coefficients and predictions.
Importing this module needs scikit-learn ≥ 1.6 and SciPy.
"""

from __future__ import annotations

from ._linear import (
                      HingeClassifier,
                      LinearRegression,
                      LogisticRegression,
                      hinge_objective,
                      logistic_objective,
                      ridge_objective,
)
from ._mlp import MLPClassifier, MLPRegressor, mlp_forward, mlp_objective

__all__ = ["LinearRegression", "LogisticRegression", "HingeClassifier", "MLPClassifier", "MLPRegressor",
           "ridge_objective", "logistic_objective", "hinge_objective", "mlp_forward", "mlp_objective"]
