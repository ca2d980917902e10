"""The five activations of the lecture (linear, logistic, tanh, ReLU, maxout) and their derivatives.

The derivatives are chainrule's (one VJP per function) and are checked against central
differences; the figures answer two of the lecture's "why?"s: σ′ never exceeds 1/4, so logistic
layers shrink gradients, and tanh is zero-centred where σ is not; ReLU is maxout with a zero piece.
"""

from __future__ import annotations

import numpy as np

from ._common import ExperimentResult, out_path

NAME = "activations"
NAMES = ("linear", "logistic", "tanh", "relu", "maxout")


def run(out_dir, quick=False, seed=0):
    """Tabulate f(0), f′(0), the range of f′ and the mean of f on a symmetric grid; plot all five."""
    from .. import viz
    from ..nn.activations import maxout, relu

    out = out_path(out_dir)
    a = np.linspace(-4.0, 4.0, 401 if quick else 4001)          # symmetric about 0, contains 0
    curves = viz.activation_curves(NAMES, a)
    zero = int(np.flatnonzero(a == 0.0)[0])
    h = 1e-6
    plus = viz.activation_curves(NAMES, a + h)
    minus = viz.activation_curves(NAMES, a - h)
    smooth = np.abs(a) > 10 * h                 # ReLU and maxout have a kink at 0
    figures, rows = {}, []
    for name, (_, f, df) in curves.items():
        fd = (plus[name][1] - minus[name][1]) / (2 * h)
        fig = {"f0": float(f[zero]), "df0": float(df[zero]), "df_min": float(df.min()),
               "df_max": float(df.max()), "f_mean": float(f.mean()),
               "fd_error": float(np.max(np.abs(fd - df)[smooth]))}
        figures[name] = fig
        rows.append([name, *(fig[k] for k in ("f0", "df0", "df_min", "df_max", "f_mean", "fd_error"))])

    # ReLU is the maxout unit max{0, a}: the same values, and the same derivative
    relu_values = np.asarray(relu(a))
    maxout_values = np.asarray(maxout(np.stack([np.zeros_like(a), a], axis=-1), 2)).reshape(a.shape)
    figures["relu_vs_maxout_zero_piece"] = float(np.max(np.abs(relu_values - maxout_values)))
    figures["grid"] = {"min": float(a.min()), "max": float(a.max()), "points": int(a.size)}
    viz.plot_activations(NAMES, a, path=out / "activations.png")

    lg, th, rl = figures["logistic"], figures["tanh"], figures["relu"]
    fd_worst = max(figures[n]["fd_error"] for n in NAMES)
    summary = [
        f"The logistic derivative peaks at σ′(0) = {lg['df_max']:.4g}, "
        f"{th['df_max'] / lg['df_max']:.3g}× below "
        f"tanh's peak of {th['df_max']:.4g}, so each logistic layer scales a back-propagated gradient by "
        f"at most {lg['df_max']:.4g}, while ReLU passes it on unchanged (f′ = {rl['df_max']:.4g} for a > 0).",
        f"On the symmetric grid [{a.min():g}, {a.max():g}] tanh averages {th['f_mean']:.2g} "
        "(zero-centred) but "
        f"the logistic function averages {lg['f_mean']:.4g}: logistic hidden units only ever output positive "
        "numbers.",
        f"ReLU equals the maxout unit max{{0, a}} to {figures['relu_vs_maxout_zero_piece']:.1e}, and "
        f"chainrule's derivatives agree with central differences to {fd_worst:.1e}.",
    ]
    result = ExperimentResult(
        NAME, "Activations f(a) and their derivatives f′(a) (by chainrule)", figures,
        ["activation", "f(0)", "f'(0)", "min f'", "max f'", "mean f", "|f' - FD|"], rows, summary,
        [out / "activations.png"])
    result.save(out)
    print(result)
    return result
