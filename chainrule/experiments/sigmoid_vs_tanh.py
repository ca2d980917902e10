"""The same MLP trained with logistic and with tanh hidden units: the lecture's "why tanh over σ?".

Both networks start from the same seed and see the same mini-batches.  Besides the loss curves
the experiment records the mean activation of the hidden layer on the test set: tanh units are
zero-centred, logistic units are all positive, so every weight of the next layer receives
gradients of the same sign from one example, which slows gradient descent down.
"""

from __future__ import annotations

import numpy as np

from ._common import ExperimentResult, compare, digits_split, out_path

NAME = "sigmoid-vs-tanh"


def _dataset(quick, seed):
    if quick:
        return "digits", digits_split(seed)
    from ..data import load_mnist
    try:
        (X_train, y_train), (X_test, y_test) = load_mnist(flatten=True)
    except (OSError, ValueError) as e:      # offline, or no data directory: say so and use digits
        print(f"sigmoid-vs-tanh: MNIST is not available ({e}); using the 8×8 digits instead")
        return "digits", digits_split(seed)
    return "MNIST", ((X_train.astype(np.float64), y_train), (X_test.astype(np.float64), y_test))


def _hidden_mean(model, X):
    """Mean and fraction-positive of the hidden layer's activations (after the first nonlinearity)."""
    from .._core import no_grad
    with no_grad():
        h = np.asarray(model.layers[1](model.layers[0](X)))
    return float(h.mean()), float(np.mean(h > 0))


def run(out_dir, quick=False, seed=0):
    """Train logistic and tanh MLPs by SGD; compare loss curves, accuracy and hidden-unit means."""
    from .. import nn, optim, train, viz
    from ..data import DataLoader

    out = out_path(out_dir)
    dataset, ((X_train, y_train), (X_test, y_test)) = _dataset(quick, seed)
    hidden, epochs, batch, lr = (32, 12, 32, 0.1) if quick else (128, 8, 64, 0.1)
    sizes = [X_train.shape[1], hidden, 10]
    figures, histories, rows = {"dataset": dataset, "sizes": sizes, "epochs": epochs, "lr": lr}, {}, []
    for act in ("logistic", "tanh"):
        model = nn.MLP(sizes, activation=act, rng=seed)
        mean0, _ = _hidden_mean(model, X_test)
        loader = DataLoader(X_train, y_train, batch_size=batch, shuffle=True, seed=seed)
        history = train.fit(model, nn.losses.cross_entropy, optim.SGD(model.parameters(), lr=lr), loader,
                            epochs, val_loader=DataLoader(X_test, y_test, batch_size=1024), progress=False)
        mean1, positive = _hidden_mean(model, X_test)
        histories[act] = history
        figures[act] = {"train_loss": list(history.train_loss), "test_accuracy": history.val_accuracy[-1],
                        "final_train_loss": history.train_loss[-1], "hidden_mean_at_init": mean0,
                        "hidden_mean_trained": mean1, "hidden_fraction_positive": positive}
        rows.append([act, history.train_loss[0], history.train_loss[-1], history.val_accuracy[-1],
                     mean0, mean1, positive])

    lg, th = figures["logistic"], figures["tanh"]
    # how many epochs the logistic net needs to reach the loss tanh had after its first epoch
    target = th["train_loss"][0]
    reached = next((k + 1 for k, v in enumerate(lg["train_loss"]) if v <= target), None)
    figures["logistic_epochs_to_tanh_first_epoch_loss"] = reached
    viz.plot_history(histories, path=out / "loss_curves.png",
                     title=f"{dataset}: {'-'.join(map(str, sizes))} MLP, SGD lr={lr:g}")
    _plot_means(figures, out / "hidden_means.png")

    when = f"in epoch {reached}" if reached else f"in none of its {epochs} epochs"
    centred = " (zero-centred)" if abs(th["hidden_mean_trained"]) < 0.1 else ""
    summary = [
        f"After {epochs} epochs of SGD on {dataset} the tanh network's training loss is "
        f"{th['final_train_loss']:.3f}, "
        f"{compare(th['final_train_loss'], lg['final_train_loss'], 'lower than', 'higher than')} "
        "the logistic "
        f"network's {lg['final_train_loss']:.3f} (test accuracy {th['test_accuracy']:.3f} vs "
        f"{lg['test_accuracy']:.3f}); the logistic network reaches tanh's first-epoch loss of "
        f"{target:.3f} {when}.",
        f"The hidden units' mean activation is {th['hidden_mean_trained']:+.3f} for tanh{centred} but "
        f"{lg['hidden_mean_trained']:+.3f} for the logistic function, whose outputs are "
        f"{100 * lg['hidden_fraction_positive']:.0f}% positive: all the inputs to the next layer "
        "share one sign, "
        "so the gradients of a unit's weights do too.",
    ]
    result = ExperimentResult(
        NAME, f"Logistic vs tanh hidden units ({dataset})", figures,
        ["hidden units", "loss epoch 1", f"loss epoch {epochs}", "test acc", "mean h (init)",
         "mean h (trained)", "h > 0"], rows, summary, [out / "loss_curves.png", out / "hidden_means.png"])
    result.save(out)
    print(result)
    return result


def _plot_means(figures, path):
    """Bars of the mean hidden activation per activation (its colour as in every figure; pale at
    initialisation, solid after training), each labelled with its value; returns the Figure."""
    from matplotlib.patches import Patch

    from ..viz import ACTIVATION_COLOURS, _figure, _save
    fig = _figure(figsize=(5, 3.6), layout="constrained")
    ax = fig.subplots()
    names = ["logistic", "tanh"]
    x = np.arange(len(names))
    colours = [ACTIVATION_COLOURS[n] for n in names]
    for offset, key, alpha in ((-0.18, "hidden_mean_at_init", 0.4), (0.18, "hidden_mean_trained", 1.0)):
        bars = ax.bar(x + offset, [figures[n][key] for n in names], 0.36, color=colours, alpha=alpha,
                      edgecolor="k", linewidth=0.5)
        ax.bar_label(bars, fmt="%+.3f", fontsize=8, padding=2)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, names)
    ax.set_ylabel("mean hidden activation (test set)")
    ax.margins(y=0.15)
    ax.legend(handles=[Patch(facecolor="0.6", alpha=0.4, edgecolor="k", label="at initialisation"),
                       Patch(facecolor="0.6", edgecolor="k", label="after training")], fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)
