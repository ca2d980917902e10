"""One training step of an MLP 784-256-256-10 (ReLU, softmax cross-entropy, plain SGD), float32.

    python bench/train_step.py [batch ...]       # default: 32 128 512 2048
    python bench/train_step.py 2 --sizes 4 4 4 2  # a tiny MLP: the per-step overhead alone

For each batch size it measures, in one process and one run: the step's 8 matrix products
alone (the BLAS floor), chainrule's own NumPy and BLAS calls for the step with no framework
around them (what NumPy's one-at-a-time elementwise passes add to the floor), the step
written by hand in NumPy, chainrule's ordinary API
(modules, loss, optimizer, ``.backward()``), the same step replayed by
``chainrule.replay.TrainStep``, PyTorch eager, JAX jit and HIPS autograd.
Peers that are not installed are reported as absent. Medians of repeated, warmed-up runs;
the NumPy-based steps are sampled in turn (one sample of each, then the next round) so that
the machine's slow spells fall on all of them. The last column is chainrule's time divided by
each (below 1: chainrule is faster).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import blas_line, measure, measure_together, optional, report, rest, settle  # noqa: E402

SIZES = (784, 256, 256, 10)
LR = 0.01


def _data(batch, rng):
    x = rng.random((batch, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], batch)
    return x, y


def _weights(rng):
    Ws, bs = [], []
    for i, o in zip(SIZES[:-1], SIZES[1:]):
        Ws.append((rng.standard_normal((o, i)) * np.sqrt(2 / i)).astype(np.float32))
        bs.append(np.zeros(o, np.float32))
    return Ws, bs


def matmul_floor(batch, rng):
    """The 8 products of a step: 3 forward, 3 weight gradients, 2 input gradients."""
    x, _ = _data(batch, rng)
    Ws, _ = _weights(rng)
    h1 = np.maximum(x @ Ws[0].T, 0)
    h2 = np.maximum(h1 @ Ws[1].T, 0)
    g3 = h2 @ Ws[2].T

    def step():
        x @ Ws[0].T, h1 @ Ws[1].T, h2 @ Ws[2].T
        g3.T @ h2, g3 @ Ws[2]
        h2.T @ h1, h2 @ Ws[1]
        h1.T @ x
    return step


def numpy_by_hand(batch, rng):
    x, y = _data(batch, rng)
    Ws, bs = _weights(rng)
    rows = np.arange(batch)

    def step():
        a1 = x @ Ws[0].T + bs[0]
        h1 = np.maximum(a1, 0)
        a2 = h1 @ Ws[1].T + bs[1]
        h2 = np.maximum(a2, 0)
        z = h2 @ Ws[2].T + bs[2]
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        p[rows, y] -= 1
        g = p / batch
        gW3, gb3 = g.T @ h2, g.sum(0)
        g = g @ Ws[2]
        g *= a2 > 0
        gW2, gb2 = g.T @ h1, g.sum(0)
        g = g @ Ws[1]
        g *= a1 > 0
        gW1, gb1 = g.T @ x, g.sum(0)
        for W, gW in zip(Ws, (gW1, gW2, gW3)):
            W -= LR * gW
        for b, gb in zip(bs, (gb1, gb2, gb3)):
            b -= LR * gb
    return step


def chainrule_kernels(batch, rng):
    """The step from chainrule's own NumPy and BLAS calls, with nothing around them: no modules,
    graph, engine or optimizer objects. Its distance from the floor is what the elementwise
    passes cost (bias, ReLU, its mask, softmax) when NumPy runs them one at a time; chainrule's
    distance from it is what the framework costs."""
    from chainrule._blas import axpy
    from chainrule.nn import functional as F
    x, y = _data(batch, rng)
    Ws, bs = _weights(rng)
    ones = np.ones(batch, np.float32)

    def step():
        h1 = F._linear_relu(x, Ws[0], bs[0])
        h2 = F._linear_relu(h1, Ws[1], bs[1])
        z = F._linear(h2, Ws[2], bs[2])
        e, m = F._shifted_exp(z)
        sums = F._row_sum(e)
        loss = (np.log(sums) + m[:, 0] - F._picked(z, y)).sum() / batch   # chainrule's step returns it
        g = e / sums[:, None]
        F._picked(g, y, subtract=1)
        g *= 1 / batch
        grads = [g.T @ h2, ones @ g]
        g = F._product(g, Ws[2])
        np.multiply(g, h2 > 0, out=g)
        grads += [g.T @ h1, ones @ g]
        g = F._product(g, Ws[1])
        np.multiply(g, h1 > 0, out=g)
        grads += [g.T @ x, ones @ g]
        for p, gp in zip((Ws[2], bs[2], Ws[1], bs[1], Ws[0], bs[0]), grads):
            if not axpy(-LR, gp, p):
                p -= LR * gp
        return loss
    return step


def _chainrule_setup(batch, rng, package):
    """The batch, the MLP, its SGD optimizer and the losses module of chainrule (``package``:
    another copy of the library, imported under another name, for ``ab.py``)."""
    nn = importlib.import_module(f"{package}.nn")
    optim = importlib.import_module(f"{package}.optim")
    losses = importlib.import_module(f"{package}.nn.losses")
    x, y = _data(batch, rng)
    model = nn.MLP(list(SIZES), activation="relu", rng=0, dtype=np.float32)
    return x, y, model, optim.SGD(model.parameters(), lr=LR), losses


def chainrule_api(batch, rng, package="chainrule"):
    """The step with chainrule's modules, loss and optimizer."""
    x, y, model, opt, losses = _chainrule_setup(batch, rng, package)

    def step():
        opt.zero_grad()
        loss = losses.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return step


def chainrule_replay(batch, rng, package="chainrule"):
    """The same step through ``chainrule.replay.TrainStep``: recorded twice, then replayed."""
    x, y, model, opt, losses = _chainrule_setup(batch, rng, package)
    replay = importlib.import_module(f"{package}.replay")
    step = replay.TrainStep(model, losses.cross_entropy, opt)
    step(x, y)
    step(x, y)
    return lambda: step(x, y)


def torch_eager(batch, rng):
    torch = optional("torch")
    if torch is None:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    x, y = _data(batch, rng)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    layers = []
    for i, o in zip(SIZES[:-1], SIZES[1:]):
        layers += [torch.nn.Linear(i, o), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    lossf = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = lossf(model(xt), yt)
        loss.backward()
        opt.step()
    return step


def jax_jit(batch, rng):
    jax = optional("jax")
    if jax is None:
        return None
    import jax.numpy as jnp
    x, y = _data(batch, rng)
    Ws, bs = _weights(rng)
    params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in zip(Ws, bs)]
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def loss(params, x, y):
        h = x
        for W, b in params[:-1]:
            h = jax.nn.relu(h @ W.T + b)
        W, b = params[-1]
        z = h @ W.T + b
        return -jnp.mean(jax.nn.log_softmax(z)[jnp.arange(batch), y])

    @jax.jit
    def update(params, x, y):
        g = jax.grad(loss)(params, x, y)
        return [(W - LR * gW, b - LR * gb) for (W, b), (gW, gb) in zip(params, g)]

    state = [params]

    def step():
        state[0] = update(state[0], xj, yj)
        jax.block_until_ready(state[0])
    return step


def hips_autograd(batch, rng):
    ag = optional("autograd")
    if ag is None:
        return None
    import autograd.numpy as anp
    x, y = _data(batch, rng)
    Ws, bs = _weights(rng)
    params = [[W, b] for W, b in zip(Ws, bs)]

    def loss(params):
        h = x
        for W, b in params[:-1]:
            h = anp.maximum(h @ W.T + b, 0)
        W, b = params[-1]
        z = h @ W.T + b
        z = z - anp.max(z, axis=1, keepdims=True)
        logp = z - anp.log(anp.sum(anp.exp(z), axis=1, keepdims=True))
        return -anp.mean(logp[np.arange(batch), y])

    g = ag.grad(loss)

    def step():
        grads = g(params)
        for p, gp in zip(params, grads):
            p[0] = p[0] - LR * gp[0]
            p[1] = p[1] - LR * gp[1]
    return step


OWN_THREADS = ("PyTorch eager", "JAX jit")
PEERS = [("chainrule TrainStep (replay)", chainrule_replay), ("8 matrix products (floor)", matmul_floor),
         ("chainrule's kernels alone", chainrule_kernels), ("NumPy by hand", numpy_by_hand),
         ("PyTorch eager", torch_eager), ("JAX jit", jax_jit), ("HIPS autograd", hips_autograd)]


def main(batches):
    print(__doc__.split("\n\n")[0])
    print(blas_line())
    if SIZES != (784, 256, 256, 10):
        print(f"(with layer sizes {'-'.join(map(str, SIZES))} instead)")
    for name in ("torch", "jax", "jax.numpy", "autograd.numpy"):
        optional(name)
    settle()
    for batch in batches:
        steps = {"chainrule": chainrule_api(batch, np.random.default_rng(0))}
        for name, make in PEERS:
            steps[name] = make(batch, np.random.default_rng(0))
        # the NumPy-based steps share one BLAS thread pool and are sampled in turn; PyTorch
        # and JAX keep threads of their own spinning for a while after each call, which would
        # slow whatever ran next, so each of them is measured on its own
        together = {k: v for k, v in steps.items() if v is not None and k not in OWN_THREADS}
        rest()
        stats = measure_together(together)
        for name in OWN_THREADS:
            if steps.get(name) is not None:
                stats[name] = measure(steps[name])
                rest()
        report(f"batch {batch}: one training step", [(k, stats.get(k)) for k in steps])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("batches", nargs="*", type=int, default=[32, 128, 512, 2048])
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES),
                        help="layer widths; e.g. --sizes 4 4 4 2 with batch 2 times what the "
                             "framework costs when the arithmetic costs nothing")
    args = parser.parse_args()
    SIZES = tuple(args.sizes)
    main(args.batches)
