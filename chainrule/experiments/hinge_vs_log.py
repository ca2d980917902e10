"""Hinge loss against log-loss on a 2-D dataset (scikit-learn's two moons).

The same small network is trained with the lecture's hinge loss ``max{0, 1 − y·s}`` (labels ±1)
and with log-loss ``log(1 + e^{−y·s})`` (the logistic neuron's −log P(y | x)), both functions of
the margin ``m = y·s``.  Hinge is exactly zero, with a zero gradient, once a point is beyond the
margin (m ≥ 1); log-loss keeps pulling on every point.  The experiment plots both decision
boundaries and the two losses against the margin.
"""

from __future__ import annotations

import math

import numpy as np

from ._common import ExperimentResult, out_path

NAME = "hinge-vs-log"


def _train(loss_name, X, y01, seed, steps):
    from .. import nn, optim
    from ..nn import losses
    ypm = 2.0 * y01 - 1.0
    model = nn.MLP([2, 16, 1], activation="tanh", rng=seed)
    opt = optim.Adam(model.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        s = model(X)[:, 0]
        if loss_name == "hinge":
            value = losses.hinge(s, ypm)
        else:
            value = losses.log_loss(s, y01, from_logits=True)
        value.backward()
        opt.step()
    from .._core import no_grad
    with no_grad():
        scores = np.asarray(model(X))[:, 0]
    return model, scores


def run(out_dir, quick=False, seed=0):
    """Fit two moons with hinge and with log-loss; compare boundaries, margins and gradients."""
    from sklearn.datasets import make_moons

    from .. import grad, viz
    from ..nn import losses

    out = out_path(out_dir)
    n = 200 if quick else 1000
    X, y = make_moons(n_samples=n, noise=0.2, random_state=seed)
    steps = 400 if quick else 2000
    figures, models, rows = {"samples": n, "steps": steps}, {}, []
    for name in ("hinge", "log"):
        model, s = _train(name, X, y.astype(np.float64), seed, steps)
        margin = (2 * y - 1) * s
        # |∂L_i/∂s_i| for each point: hinge gives 1 inside the margin and 0 beyond it, log-loss σ(−m)
        if name == "hinge":
            g = grad(lambda s_: losses.hinge(s_, 2.0 * y - 1.0, reduction="sum"))(s)
        else:
            y01 = y.astype(np.float64)
            g = grad(lambda s_: losses.log_loss(s_, y01, from_logits=True, reduction="sum"))(s)
        g = np.abs(np.asarray(g))
        models[name] = model
        figures[name] = {"train_accuracy": float(np.mean(margin > 0)),
                         "beyond_margin": int(np.sum(margin >= 1)),
                         "zero_gradient_points": int(np.sum(g == 0)),
                         "smallest_gradient": float(g.min()), "median_margin": float(np.median(margin))}
        rows.append([name, figures[name]["train_accuracy"], figures[name]["median_margin"],
                     figures[name]["beyond_margin"], figures[name]["zero_gradient_points"],
                     figures[name]["smallest_gradient"]])

    # the two losses as functions of the margin, computed by chainrule's own loss functions
    m = np.linspace(-2.0, 3.0, 251)
    hinge_curve = np.asarray(losses.hinge(m, np.ones_like(m), reduction="none"))
    log_curve = np.asarray(losses.log_loss(m, np.ones_like(m), from_logits=True, reduction="none"))
    figures["loss_at_margin"] = {
        "hinge(0)": float(np.interp(0.0, m, hinge_curve)), "log(0)": float(np.interp(0.0, m, log_curve)),
        "hinge(2)": float(np.interp(2.0, m, hinge_curve)), "log(2)": float(np.interp(2.0, m, log_curve))}

    fig = viz._figure(figsize=(14, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, name in zip(axes[:2], ("hinge", "log")):
        title = "hinge loss" if name == "hinge" else "log-loss"
        viz.plot_decision_boundary(models[name], X, y, ax=ax,
                                   title=f"{title}: train accuracy {figures[name]['train_accuracy']:.3f} "
                                         "(dashed: s = ±1)")
    ax = axes[2]
    ax.plot(m, hinge_curve, lw=2, label="hinge  max{0, 1 − m}")
    ax.plot(m, log_curve, lw=2, label="log-loss  log(1 + e^(−m))")
    ax.plot(m, log_curve / math.log(2), lw=1, ls=":", color="C1", label="log-loss / log 2")
    ax.plot(m, (m <= 0).astype(float), lw=1, color="0.5", ls="--", label="0–1 loss")
    ax.set(xlabel="margin m = y·s", ylabel="loss", title="losses against the margin")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    viz._save(fig, out / "hinge_vs_log.png")

    h, lg = figures["hinge"], figures["log"]
    summary = [
        f"On {n} two-moons points the hinge-trained network classifies {h['train_accuracy']:.1%} of "
        "the training "
        f"set correctly and the log-loss one {lg['train_accuracy']:.1%}.",
        f"With hinge loss {h['zero_gradient_points']} of {n} points ({h['beyond_margin']} lie "
        "beyond the margin "
        f"y·s ≥ 1) contribute exactly zero gradient, whereas under log-loss "
        + (f"none do: even its most confident point still pulls with |∂L/∂s| = {lg['smallest_gradient']:.1e}."
           if lg["zero_gradient_points"] == 0 else
           f"only {lg['zero_gradient_points']} do, where σ(−m) underflows to 0."),
        f"At margin 0 the losses are {figures['loss_at_margin']['hinge(0)']:.3g} (hinge) and "
        f"{figures['loss_at_margin']['log(0)']:.3g} = log 2 (log-loss); at margin 2 they are "
        f"{figures['loss_at_margin']['hinge(2)']:.3g} and {figures['loss_at_margin']['log(2)']:.3g}.",
    ]
    result = ExperimentResult(
        NAME, "Hinge loss vs log-loss on two moons", figures,
        ["loss", "train acc", "median margin", "margin ≥ 1", "zero-gradient points", "min |∂L/∂s|"],
        rows, summary, [out / "hinge_vs_log.png"])
    result.save(out)
    print(result)
    return result
