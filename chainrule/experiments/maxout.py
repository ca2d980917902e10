"""Maxout: ReLU as its special case, and a non-convex function that one ReLU cannot fit.

1. A ``Maxout`` layer with two pieces per unit, one piece fixed at zero (zero weights, zero
   bias), computes ``max{0, wᵀx + b} = relu(wᵀx + b)``: the experiment builds one from a
   ``Linear`` layer and compares values and gradients.  (The zero piece's own weights do
   receive gradients wherever it wins: ReLU is maxout with that piece *held* at zero.)
2. One maxout unit is convex (a maximum of affine pieces), but a network of them is not: a
   small maxout network (maxout layer, then a linear layer) fits ``sin(2x)`` on [-2, 2], which a
   single ReLU unit ``c·relu(wx + b) + d`` cannot.
"""

from __future__ import annotations

import numpy as np

from ._common import ExperimentResult, out_path

NAME = "maxout"


def _relu_as_maxout(linear):
    """A Maxout layer equal to relu(linear(x)): piece 1 of unit j is zero, piece 2 is row j.

    The zero piece comes first so that a tie (a pre-activation of exactly 0) goes to it, as
    maxout gives the derivative to the first maximal piece: then relu′(0) = 0 is matched too.
    """
    from ..nn import Maxout
    layer = Maxout(linear.in_features, linear.out_features, pieces=2, dtype=linear.weight.dtype)
    w = np.zeros_like(layer.weight.data)
    w[1::2] = linear.weight.data
    b = np.zeros_like(layer.bias.data)
    b[1::2] = linear.bias.data
    layer.weight.data, layer.bias.data = w, b
    return layer


def _equivalence(seed):
    """Largest differences between relu(Linear) and the zero-piece Maxout: values and gradients."""
    from .. import tensor
    from ..nn import Linear
    from ..nn.activations import relu
    rng = np.random.default_rng(seed)
    linear = Linear(5, 7, rng=rng)
    linear.bias.data = rng.standard_normal(7)
    layer = _relu_as_maxout(linear)
    X = rng.standard_normal((64, 5))
    G = rng.standard_normal((64, 7))                 # a cotangent, so every output's gradient counts
    results = []
    for fn in (lambda x: relu(linear(x)), layer):
        x = tensor(X, requires_grad=True)
        y = fn(x)
        (y * G).sum().backward()
        results.append((y.numpy(), x.grad))
    (y1, gx1), (y2, gx2) = results
    gw2 = layer.weight.grad[1::2]
    gb2 = layer.bias.grad[1::2]
    return {"value": float(np.max(np.abs(y1 - y2))),
            "grad_input": float(np.max(np.abs(gx1 - gx2))),
            "grad_weight": float(np.max(np.abs(linear.weight.grad - gw2))),
            "grad_bias": float(np.max(np.abs(linear.bias.grad - gb2))),
            "zero_piece_weight_gradient": float(np.max(np.abs(layer.weight.grad[0::2]))),
            "negative_preactivations": float(np.mean(np.asarray(linear(X).numpy()) < 0))}


def _fit(model, x, t, steps, lr=0.02):
    from .. import nn, optim
    opt = optim.Adam(model.parameters(), lr=lr)
    schedule = optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.losses.mse(model(x), t)
        loss.backward()
        opt.step()
        schedule.step()
    from .._core import no_grad
    with no_grad():
        pred = np.asarray(model(x))
    return float(np.mean((pred - t) ** 2)), pred


def run(out_dir, quick=False, seed=0):
    """Check ReLU ≡ maxout with a zero piece; fit sin(2x) with maxout and with one ReLU."""
    from .. import nn, viz

    out = out_path(out_dir)
    eq = _equivalence(seed)
    x = np.linspace(-2.0, 2.0, 201)[:, None]
    t = np.sin(2.0 * x)
    steps = 1500 if quick else 5000
    units, pieces = 8, 3
    maxnet = nn.Sequential(nn.Maxout(1, units, pieces=pieces, rng=seed), nn.Linear(units, 1, rng=seed))
    one_relu = nn.Sequential(nn.Linear(1, 1, init="he_uniform", rng=seed), nn.ReLU(),
                             nn.Linear(1, 1, rng=seed))
    mse_max, pred_max = _fit(maxnet, x, t, steps)
    mse_relu, pred_relu = _fit(one_relu, x, t, steps)
    variance = float(t.var())
    figures = {"relu_equals_maxout": eq, "target": "sin(2x) on [-2, 2]", "steps": steps,
               "maxout_units": units, "pieces": pieces, "target_variance": variance,
               "maxout_mse": mse_max, "one_relu_mse": mse_relu,
               "maxout_r2": 1 - mse_max / variance, "one_relu_r2": 1 - mse_relu / variance}
    rows = [["relu(Wx+b) vs maxout{0, Wx+b}: values", eq["value"]],
            ["  gradient w.r.t. x", eq["grad_input"]],
            ["  gradient w.r.t. W", eq["grad_weight"]],
            ["  gradient w.r.t. b", eq["grad_bias"]],
            [f"maxout net ({units} units × {pieces} pieces): MSE on sin(2x)", mse_max],
            ["one ReLU unit c·relu(wx+b)+d: MSE on sin(2x)", mse_relu],
            ["variance of sin(2x) (MSE of the best constant)", variance]]

    fig = viz._figure(figsize=(10, 3.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    from ..nn.activations import maxout, relu
    a = np.linspace(-3, 3, 301)
    colour = viz.ACTIVATION_COLOURS
    ax1.plot(a, np.asarray(relu(a)), lw=4, alpha=0.4, color=colour["relu"], label="relu(a)")
    ax1.plot(a, np.asarray(maxout(np.stack([0 * a, a], axis=-1), 2))[:, 0], ls="--", lw=1.5,
             color=colour["maxout"], label="maxout{0, a}")
    ax1.set(title=f"ReLU = maxout with a zero piece (max diff {eq['value']:.1e})", xlabel="a")
    ax1.legend(fontsize=8)
    ax2.plot(x[:, 0], t[:, 0], color="0.6", lw=4, alpha=0.6, label="target sin(2x)")
    ax2.plot(x[:, 0], pred_max[:, 0], color=colour["maxout"], label=f"maxout net, MSE {mse_max:.2g}")
    ax2.plot(x[:, 0], pred_relu[:, 0], color=colour["relu"], ls="--", label=f"one ReLU, MSE {mse_relu:.2g}")
    ax2.set(title="a non-convex target", xlabel="x")
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    viz._save(fig, out / "maxout.png")

    worst = max(eq["value"], eq["grad_input"], eq["grad_weight"], eq["grad_bias"])
    summary = [
        f"A maxout layer with one piece fixed at zero reproduces relu(Wx + b) to {worst:.1e} in its "
        f"values and its gradients with respect to x, W and b ({100 * eq['negative_preactivations']:.0f}% of "
        "the pre-activations were negative, so both branches of the max were exercised).",
        f"On the non-convex target sin(2x) the maxout network ({units} units of {pieces} pieces) reaches an "
        f"MSE of {mse_max:.2g} (R² = {figures['maxout_r2']:.4f}), while a single ReLU unit "
        "c·relu(wx + b) + d, monotone with one "
        f"kink, reaches only {mse_relu:.3g} (R² = {figures['one_relu_r2']:.3f}) against the target's "
        f"variance of {variance:.3g}.",
    ]
    result = ExperimentResult(NAME, "ReLU as a special case of maxout; maxout fits a non-convex function",
                              figures, ["check", "value"], rows, summary, [out / "maxout.png"])
    result.save(out)
    print(result)
    return result
