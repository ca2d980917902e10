"""Ten-layer networks with logistic, tanh and ReLU units: the lecture's "why ReLU in deep networks?".

At initialisation the gradient of the loss with respect to each layer's weights is measured on
one batch.  Back-propagation multiplies by f′(a) once per hidden layer (nine of them between the
loss and W₁); σ′ ≤ 1/4, so in the logistic network the gradient shrinks geometrically towards
the input (vanishing gradients), and that network barely trains.  The same nets are then
trained by SGD with momentum.  tanh and ReLU, each started from the initialisation made for it
(Glorot, He), both keep their gradients and both train; which of the two ends lower depends on
the settings, and the summary says which did.
"""

from __future__ import annotations

import math

from ._common import ExperimentResult, digits_split, out_path

NAME = "deep-relu"
ACTIVATIONS = ("logistic", "tanh", "relu")


def run(out_dir, quick=False, seed=0):
    """Per-layer gradient norms at initialisation and training curves of 10-layer MLPs."""
    from .. import nn, optim, train, viz
    from ..data import DataLoader

    out = out_path(out_dir)
    (X_train, y_train), (X_test, y_test) = digits_split(seed)
    depth, width = 10, (32 if quick else 64)
    epochs = 8 if quick else 30
    sizes = [X_train.shape[1]] + [width] * (depth - 1) + [10]
    batch = slice(0, 256)
    figures = {"sizes": sizes, "epochs": epochs, "layers": depth}
    norms, histories, rows = {}, {}, []
    for act in ACTIVATIONS:
        model = nn.MLP(sizes, activation=act, rng=seed)
        per_layer = list(viz.gradient_norms(model, nn.losses.cross_entropy, X_train[batch],
                                            y_train[batch]).values())
        norms[act] = per_layer
        loader = DataLoader(X_train, y_train, batch_size=32, shuffle=True, seed=seed)
        opt = optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
        history = train.fit(model, nn.losses.cross_entropy, opt, loader, epochs,
                            val_loader=DataLoader(X_test, y_test, batch_size=1024), progress=False)
        histories[act] = history
        ratio = per_layer[-1] / per_layer[0]
        figures[act] = {"gradient_norms": per_layer, "last_over_first": ratio,
                        "train_loss": list(history.train_loss), "final_train_loss": history.train_loss[-1],
                        "test_accuracy": history.val_accuracy[-1]}
        rows.append([act, per_layer[0], per_layer[-1], ratio, history.train_loss[-1],
                     history.val_accuracy[-1]])

    viz.plot_gradient_norms(norms, path=out / "gradient_norms.png",
                            title=f"‖∂L/∂W‖ per layer at initialisation ({depth} layers, width {width})")
    viz.plot_history(histories, path=out / "training_curves.png",
                     title=f"{depth}-layer MLPs on digits, SGD + momentum")

    lg = figures["logistic"]
    chance = math.log(10)
    # the average factor by which the gradient shrinks per layer in the logistic net
    per_layer_factor = lg["last_over_first"] ** (1 / (depth - 1))
    best = min(ACTIVATIONS, key=lambda a: figures[a]["final_train_loss"])
    others = ", ".join(f"{a} {figures[a]['last_over_first']:.3g}" for a in ACTIVATIONS if a != "logistic")
    stuck = abs(lg["final_train_loss"] - chance) < 0.1
    summary = [
        f"At initialisation the gradient reaching the first layer of the logistic network is "
        f"{lg['last_over_first']:.3g} times smaller than at the last layer — a factor of "
        f"{per_layer_factor:.3g} for each of the {depth - 1} logistic layers in between (σ′ is at most "
        f"1/4) — while for the other activations this ratio is {others}.",
        f"After {epochs} epochs the training loss is "
        + ", ".join(f"{figures[a]['final_train_loss']:.3f} ({a})" for a in ACTIVATIONS)
        + f"; {best} trains best"
        + (f", and the logistic network is still at chance level (log 10 = {chance:.3f})." if stuck else "."),
    ]
    result = ExperimentResult(
        NAME, f"Vanishing gradients: {depth}-layer networks at initialisation and in training", figures,
        ["activation", "‖∂L/∂W₁‖", f"‖∂L/∂W{depth}‖", "last / first", "final train loss", "test acc"],
        rows, summary, [out / "gradient_norms.png", out / "training_curves.png"])
    result.save(out)
    print(result)
    return result
