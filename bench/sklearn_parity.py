"""chainrule.sklearn beside scikit-learn: test score and fit time, same data, split, seed and settings.

    python bench/sklearn_parity.py [--repeats 3] [--threads 1]

Every pair is fitted inside ``make_pipeline(StandardScaler(), model)`` on a fixed 75/25 split
(``random_state=0``, stratified for classification).  Fit times are the best of ``--repeats`` runs,
taken alternately for the two libraries, with BLAS limited to ``--threads`` threads for both (by
threadpoolctl): on a small machine under load, OpenBLAS with 2 threads slows down many times
over, which would measure the machine rather than the code.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn import datasets, svm
from sklearn import linear_model as sk_linear
from sklearn import neural_network as sk_nn
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import chainrule.sklearn as crs

CLASSIFIERS = [
    ("LogisticRegression", crs.LogisticRegression, sk_linear.LogisticRegression, {}),
    ("HingeClassifier / LinearSVC", crs.HingeClassifier, svm.LinearSVC, {}),
    ("MLPClassifier", crs.MLPClassifier, sk_nn.MLPClassifier, {"random_state": 0}),
    ("MLPClassifier lbfgs", crs.MLPClassifier, sk_nn.MLPClassifier, {"random_state": 0, "solver": "lbfgs"}),
]
REGRESSORS = [
    ("LinearRegression", crs.LinearRegression, sk_linear.LinearRegression, {}, {}),
    ("LinearRegression(alpha=1) / Ridge", crs.LinearRegression, sk_linear.Ridge, {"alpha": 1.0},
     {"alpha": 1.0}),
    ("MLPRegressor", crs.MLPRegressor, sk_nn.MLPRegressor, {"random_state": 0, "max_iter": 1000},
     {"random_state": 0, "max_iter": 1000}),
]


def split(name):
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=None if name == "diabetes" else y)


def timed_fit(make, data, repeats):
    Xtr, Xte, ytr, yte = data
    best, model = float("inf"), None
    for _ in range(repeats):
        model = make_pipeline(StandardScaler(), make())
        start = time.perf_counter()
        model.fit(Xtr, ytr)
        best = min(best, time.perf_counter() - start)
    return model.score(Xte, yte), best, model[-1]


def iterations(model):
    """``n_iter_`` as a plain number: scikit-learn's LogisticRegression keeps an array of one count
    per class problem (the largest is shown), Ridge ``None`` for its direct solvers and
    LinearRegression nothing; those print "-"."""
    n = getattr(model, "n_iter_", None)
    if n is None or np.size(n) == 0:
        return "-"
    return str(int(np.max(n)))


def compare(label, dataset, ours, theirs, repeats):
    data = split(dataset)
    score_o, time_o, model_o = timed_fit(ours, data, repeats)
    score_t, time_t, model_t = timed_fit(theirs, data, repeats)
    iters = f"{iterations(model_o):>5} {iterations(model_t):>8}"
    print(f"{dataset:14s} {label:34s} {score_o:9.4f} {score_t:9.4f} {time_o * 1e3:10.1f} "
          f"{time_t * 1e3:10.1f} {iters}")
    return time_o, time_t


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(f"BLAS threads: {args.threads}; best of {args.repeats} fits")
    print(f"{'dataset':14s} {'model':34s} {'chainrule':>9s} {'sklearn':>9s} {'fit ms':>10s} "
          f"{'sk fit ms':>10s} {'iters':>5s} {'sk iters':>8s}")
    with threadpool_limits(args.threads):
        for dataset in ("digits", "iris", "wine", "breast_cancer"):
            for label, ours, theirs, params in CLASSIFIERS:
                compare(label, dataset, lambda o=ours, p=params: o(**p), lambda t=theirs, p=params: t(**p),
                        args.repeats)
        for label, ours, theirs, p_ours, p_theirs in REGRESSORS:
            compare(label, "diabetes", lambda o=ours, p=p_ours: o(**p), lambda t=theirs, p=p_theirs: t(**p),
                    args.repeats)
        print("\nAcceptance: MLPClassifier on digits, default settings, random_state=0")
        t_ours, t_theirs = compare("MLPClassifier", "digits", lambda: crs.MLPClassifier(random_state=0),
                                   lambda: sk_nn.MLPClassifier(random_state=0), max(args.repeats, 5))
        verdict = "faster or equal" if t_ours <= t_theirs else "SLOWER"
        print(f"chainrule {t_ours * 1e3:.1f} ms vs scikit-learn {t_theirs * 1e3:.1f} ms: {verdict} "
              f"({t_ours / t_theirs:.2f}x)")


if __name__ == "__main__":
    main()
