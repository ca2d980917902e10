"""chainrule.sklearn: parity with scikit-learn, the estimator API in scikit-learn's tools, gradients."""

from __future__ import annotations

import importlib.util
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from scipy import sparse  # noqa: E402
from sklearn import datasets, svm  # noqa: E402
from sklearn import linear_model as sk_linear  # noqa: E402
from sklearn import neural_network as sk_nn  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import chainrule  # noqa: E402
from chainrule.sklearn import (  # noqa: E402
    HingeClassifier,
    LinearRegression,
    LogisticRegression,
    MLPClassifier,
    MLPRegressor,
    hinge_objective,
    logistic_objective,
    mlp_objective,
    ridge_objective,
)
from chainrule.sklearn._losses import (  # noqa: E402
    half_squared_error,
    sigmoid_cross_entropy,
    softmax_cross_entropy,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def one_blas_thread():
    # two BLAS threads on this 2-core machine slow everything down many times under load
    with threadpool_limits(1):
        yield


def _split(name):
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    stratify = None if name == "diabetes" else y
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=stratify)


def _scaled(name):
    Xtr, Xte, ytr, yte = _split(name)
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr), scaler.transform(Xte), ytr, yte


# --------------------------------------------------------------------------- parity

CLASSIFIER_PAIRS = {
    "logistic": (lambda: LogisticRegression(), lambda: sk_linear.LogisticRegression()),
    # LinearSVC penalises its intercept through a constant feature; a large one makes that negligible
    "hinge": (lambda: HingeClassifier(), lambda: svm.LinearSVC(intercept_scaling=10.0, max_iter=100_000)),
    "mlp": (lambda: MLPClassifier(random_state=0), lambda: sk_nn.MLPClassifier(random_state=0)),
}


@pytest.mark.parametrize("dataset", ["digits", "iris", "wine", "breast_cancer"])
@pytest.mark.parametrize("model", sorted(CLASSIFIER_PAIRS))
def test_classifier_accuracy_is_within_one_point_of_sklearn(dataset, model):
    Xtr, Xte, ytr, yte = _split(dataset)
    ours, theirs = CLASSIFIER_PAIRS[model]
    acc_ours = make_pipeline(StandardScaler(), ours()).fit(Xtr, ytr).score(Xte, yte)
    acc_theirs = make_pipeline(StandardScaler(), theirs()).fit(Xtr, ytr).score(Xte, yte)
    assert abs(acc_ours - acc_theirs) <= 0.01, (acc_ours, acc_theirs)


REGRESSOR_PAIRS = {
    "ols": (lambda: LinearRegression(), lambda: sk_linear.LinearRegression()),
    "ridge": (lambda: LinearRegression(alpha=1.0), lambda: sk_linear.Ridge(alpha=1.0)),
    "mlp": (lambda: MLPRegressor(random_state=0, max_iter=1000),
            lambda: sk_nn.MLPRegressor(random_state=0, max_iter=1000)),
}


@pytest.mark.parametrize("model", sorted(REGRESSOR_PAIRS))
def test_regressor_r2_on_diabetes_is_within_002_of_sklearn(model):
    Xtr, Xte, ytr, yte = _split("diabetes")
    ours, theirs = REGRESSOR_PAIRS[model]
    r2_ours = make_pipeline(StandardScaler(), ours()).fit(Xtr, ytr).score(Xte, yte)
    r2_theirs = make_pipeline(StandardScaler(), theirs()).fit(Xtr, ytr).score(Xte, yte)
    assert abs(r2_ours - r2_theirs) <= 0.02, (r2_ours, r2_theirs)


def test_mlp_classifier_reaches_97_percent_on_digits():
    Xtr, Xte, ytr, yte = _scaled("digits")
    assert MLPClassifier(random_state=0).fit(Xtr, ytr).score(Xte, yte) >= 0.97


# --------------------------------------------------------------------------- coefficients

@pytest.mark.parametrize("alpha", [0.0, 1.0, 100.0])
def test_linear_regression_coefficients_equal_sklearn_ridge_at_the_same_alpha(alpha):
    X, y = datasets.load_diabetes(return_X_y=True)       # unscaled: L-BFGS must still converge
    theirs = sk_linear.LinearRegression() if alpha == 0 else sk_linear.Ridge(alpha=alpha)
    theirs.fit(X, y)
    ours = LinearRegression(alpha=alpha).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=0, atol=1e-4)


def test_linear_regression_with_sample_weights_and_two_targets_matches_ridge():
    X, y = datasets.load_diabetes(return_X_y=True)
    Y = np.column_stack([y, np.sqrt(y)])
    sw = np.random.default_rng(0).uniform(0.1, 3.0, len(y))
    theirs = sk_linear.Ridge(alpha=0.5).fit(X, Y, sample_weight=sw)
    ours = LinearRegression(alpha=0.5).fit(X, Y, sample_weight=sw)
    assert ours.coef_.shape == theirs.coef_.shape == (2, X.shape[1])
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=0, atol=1e-4)


@pytest.mark.parametrize("dataset", ["iris", "breast_cancer", "wine"])
@pytest.mark.parametrize("C", [0.1, 1.0])
def test_logistic_regression_coefficients_equal_sklearn_at_the_same_C(dataset, C):
    Xtr, _, ytr, _ = _scaled(dataset)
    theirs = sk_linear.LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(Xtr, ytr)
    ours = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(Xtr, ytr)
    assert ours.coef_.shape == theirs.coef_.shape
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours.predict_proba(Xtr), theirs.predict_proba(Xtr), atol=1e-5)


@pytest.mark.parametrize("dataset", ["iris", "breast_cancer"])
def test_squared_hinge_without_intercept_equals_linear_svc_primal(dataset):
    Xtr, _, ytr, _ = _scaled(dataset)
    theirs = svm.LinearSVC(C=0.5, fit_intercept=False, dual=False, tol=1e-12, max_iter=100_000).fit(Xtr, ytr)
    ours = HingeClassifier(C=0.5, fit_intercept=False, tol=1e-10, max_iter=10_000).fit(Xtr, ytr)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=0, atol=1e-4)


def test_weston_watkins_hinge_classifies_iris():
    Xtr, Xte, ytr, yte = _scaled("iris")
    for loss in ("hinge", "squared_hinge"):
        model = HingeClassifier(loss=loss, multi_class="weston_watkins").fit(Xtr, ytr)
        assert model.coef_.shape == (3, 4)
        assert model.score(Xte, yte) >= 0.9


# --------------------------------------------------------------------------- MLP specifics

def test_mlp_attributes_have_sklearn_shapes():
    Xtr, _, ytr, _ = _scaled("iris")
    ours = MLPClassifier(hidden_layer_sizes=(7, 5), max_iter=20, random_state=0).fit(Xtr, ytr)
    theirs = sk_nn.MLPClassifier(hidden_layer_sizes=(7, 5), max_iter=20, random_state=0).fit(Xtr, ytr)
    assert [W.shape for W in ours.coefs_] == [W.shape for W in theirs.coefs_] == [(4, 7), (7, 5), (5, 3)]
    assert [b.shape for b in ours.intercepts_] == [b.shape for b in theirs.intercepts_]
    # the same Glorot-uniform draws from the same random_state: identical first steps
    assert ours.n_iter_ == len(ours.loss_curve_) == 20
    np.testing.assert_allclose(ours.loss_curve_[0], theirs.loss_curve_[0], rtol=1e-6)


def test_binary_mlp_has_one_logistic_output_like_sklearn():
    Xtr, Xte, ytr, yte = _scaled("breast_cancer")
    model = MLPClassifier(hidden_layer_sizes=(10,), random_state=0).fit(Xtr, ytr)
    assert model.coefs_[-1].shape == (10, 1)
    proba = model.predict_proba(Xte)
    assert proba.shape == (len(Xte), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert model.score(Xte, yte) >= 0.93


def test_maxout_mlp_learns_and_has_pieces_in_its_hidden_weights():
    Xtr, Xte, ytr, yte = _scaled("digits")
    model = MLPClassifier(hidden_layer_sizes=(32,), activation="maxout", maxout_pieces=3, random_state=0)
    model.fit(Xtr, ytr)
    assert model.coefs_[0].shape == (64, 96) and model.coefs_[1].shape == (32, 10)
    assert model.score(Xte, yte) >= 0.95


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_other_solvers_learn_digits(solver):
    Xtr, Xte, ytr, yte = _scaled("digits")
    model = MLPClassifier(hidden_layer_sizes=(50,), solver=solver, learning_rate_init=0.05, random_state=0)
    assert model.fit(Xtr, ytr).score(Xte, yte) >= 0.95
    assert len(model.loss_curve_) >= 1 and np.isfinite(model.loss_)


def test_partial_fit_continues_training_and_lowers_the_loss():
    Xtr, _, ytr, _ = _scaled("digits")
    model = MLPClassifier(hidden_layer_sizes=(30,), random_state=0)
    with pytest.raises(ValueError, match="classes"):
        model.partial_fit(Xtr, ytr)
    model.partial_fit(Xtr, ytr, classes=np.arange(10))
    for _ in range(9):
        model.partial_fit(Xtr, ytr)
    # as scikit-learn: n_iter_ counts the epochs of the last call, loss_curve_ and t_ all of them
    assert model.n_iter_ == 1 and len(model.loss_curve_) == 10 and model.t_ == 10 * len(Xtr)
    assert model.loss_curve_[-1] < 0.5 * model.loss_curve_[0]
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")


def test_early_stopping_keeps_the_best_validation_weights():
    Xtr, _, ytr, _ = _scaled("digits")
    model = MLPClassifier(hidden_layer_sizes=(30,), early_stopping=True, random_state=0).fit(Xtr, ytr)
    assert len(model.validation_scores_) == model.n_iter_ < 200
    assert model.best_validation_score_ == max(model.validation_scores_)


def test_mlp_keeps_float32():
    Xtr, _, ytr, _ = _scaled("iris")
    model = MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(Xtr.astype(np.float32), ytr)
    assert all(W.dtype == np.float32 for W in model.coefs_)
    assert model.predict(Xtr.astype(np.float32)).dtype == np.float32


# --------------------------------------------------------------------------- scikit-learn's tools

ALL = [LinearRegression(alpha=0.1), LogisticRegression(), HingeClassifier(),
       MLPClassifier(hidden_layer_sizes=(10,), max_iter=50, random_state=0),
       MLPRegressor(hidden_layer_sizes=(10,), max_iter=50, random_state=0)]


def _data_for(estimator):
    return _split("diabetes" if sklearn.base.is_regressor(estimator) else "wine")


@pytest.mark.parametrize("estimator", ALL, ids=lambda e: type(e).__name__)
def test_works_in_pipeline_cross_val_score_clone_and_pickle(estimator):
    Xtr, Xte, ytr, yte = _data_for(estimator)
    pipe = make_pipeline(StandardScaler(), clone(estimator)).fit(Xtr, ytr)
    scores = cross_val_score(make_pipeline(StandardScaler(), clone(estimator)), Xtr, ytr, cv=3)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    copy = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(copy.predict(Xte), pipe.predict(Xte))
    fresh = clone(pipe)
    assert not hasattr(fresh[-1], "n_features_in_") and fresh.get_params()[fresh.steps[-1][0]] is not pipe[-1]


def test_grid_search_over_C_and_alpha():
    Xtr, Xte, ytr, yte = _split("wine")
    search = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression()),
                          {"logisticregression__C": [0.01, 1.0]}, cv=3).fit(Xtr, ytr)
    assert search.best_params_["logisticregression__C"] in (0.01, 1.0)
    assert search.score(Xte, yte) >= 0.9
    Xtr, Xte, ytr, yte = _split("diabetes")
    search = GridSearchCV(LinearRegression(), {"alpha": [0.0, 1e6]}, cv=3).fit(Xtr, ytr)
    assert search.best_params_ == {"alpha": 0.0}        # a huge penalty flattens the fit


def test_pickled_mlp_resumes_partial_fit_from_the_same_state():
    Xtr, _, ytr, _ = _scaled("iris")
    model = MLPClassifier(hidden_layer_sizes=(8,), random_state=0).partial_fit(Xtr, ytr, classes=[0, 1, 2])
    copy = pickle.loads(pickle.dumps(model))
    model.partial_fit(Xtr, ytr)
    copy.partial_fit(Xtr, ytr)
    for a, b in zip(model.coefs_ + model.intercepts_, copy.coefs_ + copy.intercepts_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("estimator", ALL, ids=lambda e: type(e).__name__)
def test_sparse_input_is_refused_with_a_clear_error(estimator):
    Xtr, _, ytr, _ = _data_for(estimator)
    with pytest.raises(TypeError, match="[Ss]parse"):
        clone(estimator).fit(sparse.csr_matrix(Xtr), ytr)


def test_bad_hyperparameters_raise_errors_naming_the_estimator():
    X, y = datasets.load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="LogisticRegression: C must be > 0"):
        LogisticRegression(C=0).fit(X, y)
    with pytest.raises(ValueError, match="HingeClassifier: loss must be one of"):
        HingeClassifier(loss="log").fit(X, y)
    with pytest.raises(ValueError, match="MLPClassifier: activation must be one of"):
        MLPClassifier(activation="gelu").fit(X, y)
    with pytest.raises(ValueError, match="LinearRegression: alpha must be ≥ 0"):
        LinearRegression(alpha=-1).fit(X, y)


# --------------------------------------------------------------------------- gradients

def _problem(rng, n=7, d=3, k=3):
    X = rng.standard_normal((n, d))
    p = rng.uniform(0.5, 1.5, n)
    return X, p / p.sum(), rng.standard_normal(d) ** 2 + 0.1


def test_ridge_objective_gradient(rng):
    X, p, pen = _problem(rng)
    Y = rng.standard_normal((7, 2))
    V = rng.standard_normal((3, 2))
    assert chainrule.gradcheck(lambda V: ridge_objective([V], X, Y, p, pen), V, modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("multinomial", [False, True])
def test_logistic_objective_gradient(rng, multinomial):
    X, p, pen = _problem(rng)
    k = 3 if multinomial else 1
    T = np.eye(3)[rng.integers(0, 3, 7)] if multinomial else rng.integers(0, 2, (7, 1)).astype(float)
    V, b = rng.standard_normal((3, k)), rng.standard_normal(k)
    f = lambda V, b: logistic_objective([V, b], X, T, p, pen, multinomial)
    assert chainrule.gradcheck(f, V, b, argnums=(0, 1), modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("multi_class", ["ovr", "weston_watkins"])
def test_hinge_objective_gradient(rng, loss, multi_class):
    X, p, pen = _problem(rng)
    labels = rng.integers(0, 3, 7)
    Y = 2.0 * np.eye(3)[labels] - 1.0 if multi_class == "ovr" else labels
    V, b = rng.standard_normal((3, 3)), rng.standard_normal(3)
    f = lambda V, b: hinge_objective([V, b], X, Y, p, pen, loss, multi_class)
    assert chainrule.gradcheck(f, V, b, argnums=(0, 1), modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("out,activation", [("softmax", "relu"), ("logistic", "tanh"), ("identity", "maxout"),
                                            ("softmax", "logistic")])
def test_mlp_objective_gradient(rng, out, activation):
    X = rng.standard_normal((6, 4))
    p = np.full(6, 1 / 6)
    k = {"softmax": 3, "logistic": 1, "identity": 2}[out]
    T = np.eye(3)[rng.integers(0, 3, 6)] if out == "softmax" else rng.uniform(0, 1, (6, k))
    width = 10 if activation == "maxout" else 5
    params = [rng.standard_normal((4, width)), rng.standard_normal(width),
              rng.standard_normal((5, k)), rng.standard_normal(k)]
    f = lambda *ps: mlp_objective(list(ps), X, T, p, 0.3, out, activation, 2)
    assert chainrule.gradcheck(f, *params, argnums=(0, 1, 2, 3), modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("loss", [softmax_cross_entropy, sigmoid_cross_entropy, half_squared_error])
def test_fused_losses_have_batched_jacobians_and_keep_float32(rng, loss):
    a = rng.standard_normal((5, 3))
    T = np.eye(3)[rng.integers(0, 3, 5)]
    w = np.full(5, 0.2)
    f = lambda a: loss(a, T, w)
    rev = chainrule.jacobian(f, mode="rev")(a)
    fwd = chainrule.jacobian(f, mode="fwd")(a)
    eps = 1e-6
    fd = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        e = np.zeros_like(a)
        e[idx] = eps
        fd[idx] = (f(a + e) - f(a - e)) / (2 * eps)
    np.testing.assert_allclose(rev, fd, atol=1e-6)
    np.testing.assert_allclose(fwd, fd, atol=1e-6)
    a32 = a.astype(np.float32)
    value, g = chainrule.value_and_grad(lambda a: loss(a, T.astype(np.float32), w.astype(np.float32)))(a32)
    assert np.asarray(value).dtype == np.float32 and g.dtype == np.float32


# --------------------------------------------------------------------------- packaging

def test_pyproject_asks_for_the_scikit_learn_that_has_validate_data():
    # sklearn.utils.validation.validate_data, which every estimator here calls, is new in 1.6
    # (read as text: tomllib is Python 3.11+, and chainrule supports 3.10)
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    deps = re.findall(r'"(scikit-learn[^"]*)"', text)
    assert deps
    for dep in deps:
        floor = re.search(r">=\s*([\d.]+)", dep)
        assert floor and tuple(int(v) for v in floor.group(1).split(".")[:2]) >= (1, 6), dep


# --------------------------------------------------------------------------- linear models: details

def test_ols_with_collinear_features_returns_sklearns_minimum_norm_coefficients():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 1))
    X = np.hstack([x, 2 * x, rng.standard_normal((50, 1))])            # column 2 = 2 × column 1
    y = 3 * x[:, 0] + X[:, 2] + 0.1 * rng.standard_normal(50)
    theirs = sk_linear.LinearRegression().fit(X, y)
    ours = LinearRegression().fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=0, atol=1e-6)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ols_with_more_features_than_samples_returns_sklearns_minimum_norm_coefficients(fit_intercept):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((10, 30)) * np.linspace(0.1, 10, 30)
    y = rng.standard_normal(10)
    sw = rng.uniform(0.5, 2.0, 10)
    theirs = sk_linear.LinearRegression(fit_intercept=fit_intercept).fit(X, y, sample_weight=sw)
    ours = LinearRegression(fit_intercept=fit_intercept).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=0, atol=1e-6)


@pytest.mark.parametrize("make", [LinearRegression, LogisticRegression, HingeClassifier],
                         ids=lambda e: e.__name__)
def test_linear_models_keep_float32_like_sklearn(make):
    X, y = datasets.load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    model = make().fit(X, y)
    assert model.coef_.dtype == np.float32 and np.asarray(model.intercept_).dtype == np.float32
    out = model.predict(X) if make is LinearRegression else model.decision_function(X)
    assert out.dtype == np.float32
    if make is LogisticRegression:
        assert model.predict_proba(X).dtype == np.float32
        theirs = sk_linear.LogisticRegression().fit(X, y)   # (its coef_ dtype varies by version)
        np.testing.assert_allclose(model.predict_proba(X), theirs.predict_proba(X), atol=1e-3)


# --------------------------------------------------------------------------- MLP: scikit-learn's semantics

def _iris():
    X, y = datasets.load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _fit_recording(model, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(*args, **kwargs)
    return [w for w in caught if issubclass(w.category, ConvergenceWarning)]


@pytest.mark.parametrize("cls", ["ours", "sklearn"])
def test_warm_start_fit_counts_its_own_epochs_and_warns_at_max_iter_every_time(cls):
    X, y = _iris()
    make = MLPClassifier if cls == "ours" else sk_nn.MLPClassifier
    model = make(hidden_layer_sizes=(5,), random_state=0, warm_start=True, max_iter=5)
    for fit in range(1, 3):
        assert len(_fit_recording(model, X, y)) == 1
        assert model.n_iter_ == 5 and len(model.loss_curve_) == 5 * fit


def test_warm_start_partial_fit_and_early_stopping_attributes_equal_sklearns():
    X, y = _iris()
    pairs = []
    for make in (MLPClassifier, sk_nn.MLPClassifier):
        warm = make(hidden_layer_sizes=(5,), random_state=0, warm_start=True, max_iter=5)
        _fit_recording(warm, X, y)
        _fit_recording(warm, X, y)
        partial = make(hidden_layer_sizes=(5,), random_state=0)
        for _ in range(3):
            partial.partial_fit(X, y, classes=[0, 1, 2])
        early = make(hidden_layer_sizes=(5,), random_state=0, early_stopping=True, max_iter=30)
        _fit_recording(early, X, y)
        pairs.append((warm, partial, early))
    (w1, p1, e1), (w2, p2, e2) = pairs
    assert (w1.n_iter_, w1.t_) == (w2.n_iter_, w2.t_)
    np.testing.assert_allclose(w1.loss_curve_, w2.loss_curve_, rtol=1e-12)
    assert (p1.n_iter_, p1.t_, len(p1.loss_curve_)) == (p2.n_iter_, p2.t_, len(p2.loss_curve_)) == (1, 450, 3)
    assert e1.best_loss_ is None and e2.best_loss_ is None
    assert e1.n_iter_ == e2.n_iter_
    np.testing.assert_allclose(e1.validation_scores_, e2.validation_scores_)


@pytest.mark.parametrize("settings", [dict(solver="sgd", learning_rate="invscaling"),
                                      dict(solver="sgd", learning_rate="adaptive", tol=0.05,
                                           n_iter_no_change=2, max_iter=25),
                                      dict(solver="sgd", nesterovs_momentum=False),
                                      dict(solver="adam"), dict(solver="adam", alpha=0.1)],
                         ids=lambda d: "-".join(f"{v}" for v in d.values()))
def test_stochastic_solvers_give_sklearns_weights_from_the_same_random_state(settings):
    X, y = _iris()
    kwargs = dict(hidden_layer_sizes=(5,), random_state=0, max_iter=5, learning_rate_init=0.05) | settings
    ours = MLPClassifier(**kwargs)
    theirs = sk_nn.MLPClassifier(**kwargs)
    _fit_recording(ours, X, y)
    _fit_recording(theirs, X, y)
    assert ours.n_iter_ == theirs.n_iter_
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_regressor_fitted_on_a_column_vector_predicts_a_vector_and_warns_like_sklearn():
    Xtr, Xte, ytr, _ = _scaled("diabetes")
    preds = []
    for make in (MLPRegressor, sk_nn.MLPRegressor):
        model = make(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
        with pytest.warns(DataConversionWarning):
            model.fit(Xtr, ytr[:, None] / 100)
        preds.append(model.predict(Xte))
    assert preds[0].shape == preds[1].shape == (len(Xte),)
    np.testing.assert_allclose(preds[0], preds[1], rtol=1e-10)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_multilabel_targets_get_one_logistic_output_per_label_like_sklearn(solver):
    X, Y = datasets.make_multilabel_classification(120, n_features=5, n_classes=3, random_state=0)
    ours = MLPClassifier(hidden_layer_sizes=(8,), solver=solver, max_iter=30, random_state=0)
    theirs = sk_nn.MLPClassifier(hidden_layer_sizes=(8,), solver=solver, max_iter=30, random_state=0)
    _fit_recording(ours, X, Y)
    _fit_recording(theirs, X, Y)
    assert ours.out_activation_ == theirs.out_activation_ == "logistic"
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=0, atol=1e-8)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.predict(X).shape == Y.shape and ours.score(X, Y) == theirs.score(X, Y)
    with pytest.raises(ValueError, match="MLPClassifier: y is binary .* fitted on a multilabel y with 3"):
        ours.set_params(warm_start=True).fit(X, Y[:, 0])


@pytest.mark.parametrize("param,value,words", [
    ("alpha", "a", "alpha must be a number, got 'a'"),
    ("alpha", -1.0, "alpha must be ≥ 0, got -1.0"),
    ("batch_size", 0.5, "batch_size must be an integer, got 0.5"),
    ("momentum", 1.5, "momentum must be in [0, 1], got 1.5"),
    ("activation", "softmax", "activation must be one of 'identity', 'logistic', 'tanh', 'relu', 'maxout', "
                              "got 'softmax'"),
    ("max_iter", 0, "max_iter must be ≥ 1, got 0"),
    ("hidden_layer_sizes", (0,),
     "hidden_layer_sizes must be a positive integer or a sequence of them, got (0,)"),
])
def test_bad_mlp_parameter_errors_name_the_estimator_the_parameter_and_only_its_value(param, value, words):
    X, y = _iris()
    with pytest.raises(ValueError) as info:
        MLPClassifier(**{param: value}).fit(X, y)
    message = str(info.value)
    assert message == f"MLPClassifier: {words}"
    assert "beta_1" not in message or param == "beta_1"          # not the whole parameter dict


def test_linear_parameter_errors_name_the_value_for_every_type():
    X, y = _iris()
    with pytest.raises(ValueError, match="LinearRegression: alpha must be a number, got 'x'"):
        LinearRegression(alpha="x").fit(X, y)
    with pytest.raises(TypeError, match="LogisticRegression: C must be a number, got '1'"):
        LogisticRegression(C="1").fit(X, y)


@pytest.mark.parametrize("model", [LogisticRegression(max_iter=1), MLPClassifier(max_iter=1, solver="lbfgs"),
                                   MLPClassifier(max_iter=1, hidden_layer_sizes=(3,))],
                         ids=["logistic", "mlp-lbfgs", "mlp-adam"])
@pytest.mark.parametrize("in_pipeline", [False, True])
def test_convergence_warnings_point_at_the_line_that_called_fit(model, in_pipeline):
    X, y = _iris()
    estimator = make_pipeline(StandardScaler(), clone(model)) if in_pipeline else clone(model)
    caught = _fit_recording(estimator, X, y)                 # the fit call is in _fit_recording, here
    assert caught and {(Path(w.filename).name, w.lineno) for w in caught} == {
        (Path(__file__).name, _fit_recording.__code__.co_firstlineno + 3)}


def test_parity_bench_prints_iteration_counts_as_plain_numbers_or_a_dash(capsys):
    path = Path(__file__).resolve().parents[1] / "bench" / "sklearn_parity.py"
    spec = importlib.util.spec_from_file_location("sklearn_parity", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.compare("LogisticRegression", "iris", LogisticRegression, sk_linear.LogisticRegression, 1)
    bench.compare("Ridge", "diabetes", lambda: LinearRegression(alpha=1.0), sk_linear.Ridge, 1)
    logistic, ridge = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"\d+", logistic.split()[-1]) and re.fullmatch(r"\d+", logistic.split()[-2])
    assert ridge.split()[-1] == "-" and re.fullmatch(r"\d+", ridge.split()[-2])


@pytest.mark.parametrize("make", ["velocity", "adam"])
def test_the_estimators_optimizers_reload_their_own_state(make):
    # a second optimizer loaded with the first one's state takes the same next step
    from chainrule.nn import Parameter
    from chainrule.sklearn._mlp import _ScikitAdam, _VelocitySGD

    def build(w):
        if make == "velocity":
            return _VelocitySGD([w], lr=0.1, momentum=0.9, nesterov=False)
        return _ScikitAdam([w], lr=0.1, betas=(0.9, 0.999), eps=1e-8)

    w = Parameter(np.ones(3))
    opt = build(w)
    w.grad = np.array([1.0, -2.0, 3.0])
    opt.step()
    twin = Parameter(w.numpy().copy())
    reloaded = build(twin)
    reloaded.load_state_dict(opt.state_dict())
    for p, o in ((w, opt), (twin, reloaded)):
        p.grad = np.array([0.5, 0.25, -1.0])
        o.step()
    np.testing.assert_array_equal(w.numpy(), twin.numpy())


@pytest.mark.parametrize("labels", [np.array([3, 7, 7, 3, 7]), np.array(["b", "a", "c", "a", "c"]),
                                    np.array([2.0, 0.0, 1.0, 2.0, 0.0])])
def test_mlp_classifier_encodes_targets_as_label_binarizer_does(labels):
    from sklearn.preprocessing import LabelBinarizer
    est = MLPClassifier(hidden_layer_sizes=(3,), max_iter=1, random_state=0)
    encoded = est._encode(labels, None, first=True)
    np.testing.assert_array_equal(encoded, LabelBinarizer().fit(labels).transform(labels))
    np.testing.assert_array_equal(est._encode(labels[::-1], None, first=False),
                                  LabelBinarizer().fit(labels).transform(labels[::-1]))


# ---- parity in the corners a review found

@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_multi_output_regression_follows_scikit_learns_weights_and_recorded_loss(solver):
    # scikit-learn's gradient is that of the loss summed over outputs; its record averages them
    X = np.random.default_rng(0).standard_normal((80, 4))
    y = X @ np.array([1.0, 2.0, 3.0, 4.0])
    Y = np.column_stack([y, -y, 0.5 * y])
    kw = dict(hidden_layer_sizes=(5,), solver=solver, max_iter=5, alpha=1.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours, theirs = MLPRegressor(**kw).fit(X, Y), sk_nn.MLPRegressor(**kw).fit(X, Y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-10)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_a_saturated_classifier_records_scikit_learns_clipped_loss_and_stops_when_it_does(n_classes):
    # probabilities of exactly 0 or 1: scikit-learn clips them to [eps, 1 - eps] in the loss it
    # records, and its stopping rule reads that record
    X = np.random.default_rng(0).standard_normal((80, 4))
    y = np.digitize(X[:, 0], [-0.5, 0.5][: n_classes - 1])
    kw = dict(hidden_layer_sizes=(10,), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours, theirs = MLPClassifier(**kw).fit(1e3 * X, y), sk_nn.MLPClassifier(**kw).fit(1e3 * X, y)
    assert ours.n_iter_ == theirs.n_iter_
    # the first epochs agree to rounding (the exact loss was 260 against 16.7 at the first);
    # over 200 saturated epochs the two trajectories drift apart by rounding alone
    np.testing.assert_allclose(ours.loss_curve_[:20], theirs.loss_curve_[:20], rtol=1e-9)


def test_partial_fit_refuses_classes_that_differ_from_the_first_call():
    X = np.random.default_rng(0).standard_normal((20, 2))
    y = (X[:, 0] > 0).astype(int)
    model = MLPClassifier(random_state=0).partial_fit(X, y, classes=[0, 1])
    model.partial_fit(X, y, classes=[1, 0])                  # the same set, in another order
    with pytest.raises(ValueError, match=r"classes=\[0, 1, 2\] differs from the classes of the earlier"):
        model.partial_fit(X, y, classes=[0, 1, 2])


@pytest.mark.parametrize("scale", [1e-8, 1.0, 1e6])
def test_least_squares_are_as_accurate_for_tiny_or_huge_targets(scale):
    # tol is absolute in standardised coordinates: the targets are standardised too
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))
    y = (X @ np.array([1.0, 2.0, 3.0, 4.0]) + 0.1 * rng.standard_normal(50)) * scale
    ours, theirs = LinearRegression().fit(X, y), sk_linear.LinearRegression().fit(X, y)
    np.testing.assert_allclose(ours.coef_ / scale, theirs.coef_ / scale, rtol=1e-9)
    np.testing.assert_allclose(ours.intercept_ / scale, theirs.intercept_ / scale, atol=1e-9)
