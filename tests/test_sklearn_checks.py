"""scikit-learn's own estimator checks, every one of them, on every chainrule estimator.

Nothing is skipped here: scikit-learn itself leaves out the checks that an estimator's tags
(``__sklearn_tags__``) declare not applicable.
"""

from __future__ import annotations

import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from chainrule.sklearn import (  # noqa: E402
    HingeClassifier,
    LinearRegression,
    LogisticRegression,
    MLPClassifier,
    MLPRegressor,
)

ESTIMATORS = [
    LinearRegression(),
    LinearRegression(alpha=1.0),
    LogisticRegression(),
    HingeClassifier(),
    HingeClassifier(multi_class="weston_watkins"),
    MLPClassifier(activation="maxout", solver="lbfgs"),
    MLPClassifier(),
    MLPRegressor(),
]


@pytest.fixture(autouse=True)
def one_blas_thread():
    # two BLAS threads on this 2-core machine slow everything down many times under load
    with threadpool_limits(1):
        yield


def _listed(mark):
    """The same parametrisation with its cases in a list: scikit-learn before 1.8 passes a
    generator, which pytest deprecates (PytestRemovedIn10Warning) and pytest 10 will refuse."""
    names, cases = mark.mark.args
    return pytest.mark.parametrize(names, list(cases), **mark.mark.kwargs)


# the checks fit on small or random data with the default max_iter: not converging is expected
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@_listed(parametrize_with_checks(ESTIMATORS))
def test_estimator_passes_sklearn_check(estimator, check):
    check(estimator)
