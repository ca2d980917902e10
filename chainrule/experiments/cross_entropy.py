"""Why log-loss is called cross-entropy, and where the KL divergence comes in.

For a target distribution ``q`` and a model distribution ``p̂`` over K classes:

    cross-entropy  H(q, p̂) = −Σ_y q(y) log p̂(y)
                  = H(q) + KL(q ‖ p̂)          (entropy of the target + divergence)

For a one-hot target (the lecture's delta distribution) H(q) = 0, so cross-entropy, KL and the
negative log-likelihood −log p̂(y_gt) are one number.  The experiment checks both identities on
random distributions, with NumPy formulas and with chainrule's losses (``cross_entropy``,
``kl_div``, ``nll_loss``), and that their gradients with respect to the logits agree too.
"""

from __future__ import annotations

import numpy as np

from ._common import ExperimentResult, out_path

NAME = "cross-entropy"


def _softmax(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _xlogy(x, y):
    return np.where(x > 0, x * np.log(np.where(x > 0, y, 1.0)), 0.0)


def run(out_dir, quick=False, seed=0):
    """Random logits and targets: entropy, cross-entropy and KL by formula and by chainrule."""
    from .. import grad, viz
    from .. import special as sp
    from ..nn import losses

    out = out_path(out_dir)
    rng = np.random.default_rng(seed)
    n, k = (200, 10) if quick else (5000, 10)
    logits = rng.standard_normal((n, k)) * 2.0
    p = _softmax(logits)
    q = rng.dirichlet(np.full(k, 0.5), size=n)             # soft targets
    labels = rng.integers(0, k, size=n)
    onehot = np.eye(k)[labels]

    entropy = -_xlogy(q, q).sum(axis=1)
    ce = -(q * np.log(p)).sum(axis=1)
    kl = (_xlogy(q, q) - _xlogy(q, p)).sum(axis=1)
    # the same numbers from chainrule's losses
    ce_cr = np.asarray(losses.cross_entropy(logits, q, reduction="none"))
    kl_cr = np.asarray(losses.kl_div(q, sp.softmax(logits), reduction="none"))
    ce_hot = np.asarray(losses.cross_entropy(logits, labels, reduction="none"))
    kl_hot = np.asarray(losses.kl_div(onehot, sp.softmax(logits), reduction="none"))
    nll_hot = np.asarray(losses.nll_loss(sp.log_softmax(logits), labels, reduction="none"))
    nll_formula = -np.log(p[np.arange(n), labels])
    # gradients w.r.t. the logits: CE and KL differ by H(q), a constant of the logits
    g_ce = grad(lambda a: losses.cross_entropy(a, q, reduction="sum"))(logits)
    g_kl = grad(lambda a: losses.kl_div(q, sp.softmax(a), reduction="sum"))(logits)

    figures = {
        "rows": n, "classes": k,
        "ce_minus_kl_minus_entropy": float(np.max(np.abs(ce - kl - entropy))),
        "chainrule_ce_minus_kl_minus_entropy": float(np.max(np.abs(ce_cr - kl_cr - entropy))),
        "chainrule_ce_vs_formula": float(np.max(np.abs(ce_cr - ce))),
        "chainrule_kl_vs_formula": float(np.max(np.abs(kl_cr - kl))),
        "onehot_ce_minus_kl": float(np.max(np.abs(ce_hot - kl_hot))),
        "onehot_ce_minus_nll": float(np.max(np.abs(ce_hot - nll_hot))),
        "onehot_nll_vs_formula": float(np.max(np.abs(nll_hot - nll_formula))),
        "gradient_ce_minus_kl": float(np.max(np.abs(np.asarray(g_ce) - np.asarray(g_kl)))),
        "mean_entropy": float(entropy.mean()), "mean_cross_entropy": float(ce.mean()),
        "mean_kl": float(kl.mean()), "max_entropy": float(np.log(k)),
    }
    show = 5
    rows = [[i, entropy[i], kl[i], entropy[i] + kl[i], ce[i], ce_cr[i]] for i in range(show)]
    rows.append(["mean", entropy.mean(), kl.mean(), (entropy + kl).mean(), ce.mean(), ce_cr.mean()])
    for i in range(3):
        rows.append([f"one-hot {i}", 0.0, kl_hot[i], kl_hot[i], nll_formula[i], ce_hot[i]])

    fig = viz._figure(figsize=(10, 3.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    idx = np.arange(12)
    ax1.bar(idx, entropy[idx], label="entropy H(q)", color="#9ecae1")
    ax1.bar(idx, kl[idx], bottom=entropy[idx], label="KL(q ‖ p̂)", color="#fc9272")
    ax1.plot(idx, ce[idx], "k_", ms=14, mew=2, label="cross-entropy H(q, p̂)")
    ax1.set(xlabel="example", ylabel="nats", title="soft targets: H(q, p̂) = H(q) + KL(q ‖ p̂)")
    ax1.legend(fontsize=8)
    ax2.scatter(nll_formula, kl_hot, s=10, label="KL(one-hot ‖ p̂)")
    ax2.scatter(nll_formula, ce_hot, s=30, facecolors="none", edgecolors="k", label="cross_entropy")
    ax2.set(xlabel="−log p̂(y_gt)", ylabel="nats", title="one-hot targets: CE = KL = NLL")
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    viz._save(fig, out / "cross_entropy.png")

    identity = max(figures["ce_minus_kl_minus_entropy"], figures["chainrule_ce_minus_kl_minus_entropy"])
    onehot = max(figures["onehot_ce_minus_kl"], figures["onehot_ce_minus_nll"])
    summary = [
        f"Over {n} random soft targets the cross-entropy averages {ce.mean():.4f} nats: the target's own "
        f"entropy {entropy.mean():.4f} plus the KL divergence {kl.mean():.4f}, and CE − KL equals "
        "the entropy "
        f"to {identity:.1e} (chainrule's cross_entropy and kl_div included).",
        f"For one-hot targets the entropy is 0, so cross-entropy, KL and −log p̂(y_gt) coincide (to "
        f"{onehot:.1e}): minimising log-loss is maximum likelihood and minimises KL(p_gt ‖ p̂) — "
        "the lecture's "
        "formula for KL holds only because H(p_gt) = 0.",
        "Since H(q) does not depend on the model, the gradients of CE and KL with respect to the "
        "logits agree "
        f"to {figures['gradient_ce_minus_kl']:.1e}.",
    ]
    result = ExperimentResult(
        NAME, "Cross-entropy = entropy + KL divergence", figures,
        ["row", "H(q)", "KL(q‖p̂)", "H + KL", "CE (formula)", "CE (chainrule)"], rows, summary,
        [out / "cross_entropy.png"])
    result.save(out)
    print(result)
    return result
