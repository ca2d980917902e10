"""Engine benchmarks (issue 2): per-operation overhead, a full Jacobian, Hessian-vector products.

    python bench/engine.py            # all three
    python bench/engine.py overhead   # one of: overhead, jacobian, hvp

Peers (PyTorch, JAX, HIPS autograd) are measured in the same run when installed
(``pip install -e ".[bench]"``) and reported as absent otherwise. Figures are medians;
the last column is chainrule's time divided by the peer's (below 1: chainrule is faster).
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import measure, measure_together, optional, report, rest, settle  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402

torch = optional("torch")
jax = optional("jax")
ag = optional("autograd")
if torch is not None:
    torch.set_num_threads(os.cpu_count() or 1)


# --------------------------------------------------------------------------- overhead

def overhead(n_ops=2000):
    """Forward + backward cost per operation on a tiny array (3 elements)."""
    x0 = np.random.default_rng(0).random(3)
    half = n_ops // 2

    def chain(x, sin):
        for _ in range(half):
            x = sin(x)
            x = x * 1.01
        return x.sum()

    def numpy_forward():
        chain(x0, np.sin)

    def chainrule_tensor():
        t = cr.tensor(x0, requires_grad=True)
        chain(t, cnp.sin).backward()

    grad_f = cr.grad(lambda x: chain(x, cnp.sin))

    def chainrule_grad():
        grad_f(x0)

    rows = [("chainrule (Tensor.backward)", measure(chainrule_tensor, repeat=9)),
            ("chainrule (grad)", measure(chainrule_grad, repeat=9)),
            ("NumPy forward alone", measure(numpy_forward, repeat=9))]
    if torch is not None:
        xt0 = torch.tensor(x0)

        def torch_eager():
            t = xt0.clone().requires_grad_(True)
            chain(t, torch.sin).backward()
        rows.append(("PyTorch eager", measure(torch_eager, repeat=9)))
        rest()
    else:
        rows.append(("PyTorch eager", None))
    if ag is not None:
        import autograd.numpy as anp
        ag_grad = ag.grad(lambda x: anp.sum(chain(x, anp.sin)))
        rows.append(("HIPS autograd", measure(lambda: ag_grad(x0), repeat=9)))
    else:
        rows.append(("HIPS autograd", None))
    per_op = [(name, None if s is None else tuple(v / n_ops for v in s)) for name, s in rows]
    report(f"forward+backward per operation, 3-element arrays ({n_ops} ops)", per_op,
           unit="us", scale=1e6, baseline="chainrule (Tensor.backward)")


# --------------------------------------------------------------------------- jacobian

def jacobian(d_in=256, d_hidden=512, d_out=256):
    """The full Jacobian of a tanh MLP d_in → d_hidden → d_out at one input."""
    rng = np.random.default_rng(0)
    W1 = rng.standard_normal((d_hidden, d_in)) / np.sqrt(d_in)
    b1 = rng.standard_normal(d_hidden) * 0.1
    W2 = rng.standard_normal((d_out, d_hidden)) / np.sqrt(d_hidden)
    b2 = rng.standard_normal(d_out) * 0.1
    x = rng.standard_normal(d_in)

    def mlp(x, tanh=cnp.tanh):
        return tanh(W2 @ tanh(W1 @ x + b1) + b2)

    def closed_form():
        h = np.tanh(W1 @ x + b1)
        y = np.tanh(W2 @ h + b2)
        return ((1 - y * y)[:, None] * W2) @ ((1 - h * h)[:, None] * W1)

    expected = closed_form()
    jrev, jfwd = cr.jacobian(mlp), cr.jacobian(mlp, mode="fwd")
    assert np.allclose(jrev(x), expected) and np.allclose(jfwd(x), expected)
    rows = [("chainrule", measure(lambda: jrev(x))),
            ("chainrule (mode='fwd')", measure(lambda: jfwd(x))),
            ("closed-form NumPy", measure(closed_form))]
    if torch is not None:
        T = [torch.tensor(a) for a in (W1, b1, W2, b2)]
        xt = torch.tensor(x)
        tj = torch.func.jacrev(lambda v: torch.tanh(T[2] @ torch.tanh(T[0] @ v + T[1]) + T[3]))
        assert np.allclose(tj(xt).numpy(), expected)
        rows.append(("torch.func.jacrev", measure(lambda: tj(xt))))
        rest()
    else:
        rows.append(("torch.func.jacrev", None))
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        J = [jnp.asarray(a) for a in (W1, b1, W2, b2)]
        xj = jnp.asarray(x)
        jj = jax.jit(jax.jacrev(lambda v: jnp.tanh(J[2] @ jnp.tanh(J[0] @ v + J[1]) + J[3])))
        assert np.allclose(np.asarray(jj(xj)), expected)
        rows.append(("JAX jit(jacrev)", measure(lambda: jj(xj).block_until_ready())))
        rest()
    else:
        rows.append(("JAX jit(jacrev)", None))
    if ag is not None:
        import autograd.numpy as anp
        aj = ag.jacobian(lambda v: mlp(v, anp.tanh))
        rows.append(("HIPS autograd", measure(lambda: aj(x), repeat=5)))
    else:
        rows.append(("HIPS autograd", None))
    report(f"full Jacobian of a tanh MLP {d_in}->{d_hidden}->{d_out} at one input (float64)", rows)


# --------------------------------------------------------------------------- hvp

def hvp(n=64, d=100, h=200, k=10):
    """A Hessian-vector product of an MLP loss w.r.t. its weights, against one gradient."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal((n, k))
    W1 = rng.standard_normal((d, h)) / np.sqrt(d)
    W2 = rng.standard_normal((h, k)) / np.sqrt(h)
    V1, V2 = rng.standard_normal(W1.shape), rng.standard_normal(W2.shape)

    def loss(W1, W2):
        r = cnp.tanh(X @ W1) @ W2 - Y
        return cnp.sum(r * r) / n

    g = cr.grad(loss, argnums=(0, 1))
    both = measure_together({"grad": lambda: g(W1, W2),
                             "hvp": lambda: cr.hvp(loss, (W1, W2), (V1, V2))})
    grad_t, hvp_t = both["grad"], both["hvp"]
    rows = [("chainrule gradient", grad_t), ("chainrule hvp", hvp_t)]
    print(f"\nHessian-vector product of an MLP loss ({n}x{d} -> {h} -> {k}, float64)")
    print(f"  chainrule: gradient {grad_t[0] * 1e3:.3f} ms, hvp {hvp_t[0] * 1e3:.3f} ms, "
          f"hvp / gradient = {hvp_t[0] / grad_t[0]:.2f}")
    if torch is not None:
        Xt, Yt = torch.tensor(X), torch.tensor(Y)
        w1, w2 = torch.tensor(W1), torch.tensor(W2)
        v1, v2 = torch.tensor(V1), torch.tensor(V2)

        def tloss(a, b):
            r = torch.tanh(Xt @ a) @ b - Yt
            return (r * r).sum() / n

        tg = torch.func.grad(tloss, argnums=(0, 1))
        t_grad = measure(lambda: tg(w1, w2))
        t_hvp = measure(lambda: torch.func.jvp(tg, (w1, w2), (v1, v2)))
        rest()
        print(f"  PyTorch (torch.func): gradient {t_grad[0] * 1e3:.3f} ms, hvp {t_hvp[0] * 1e3:.3f} ms, "
              f"hvp / gradient = {t_hvp[0] / t_grad[0]:.2f}")
        rows += [("torch.func gradient", t_grad), ("torch.func hvp", t_hvp)]
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

        def jloss(a, b):
            r = jnp.tanh(Xj @ a) @ b - Yj
            return jnp.sum(r * r) / n

        jg = jax.jit(jax.grad(jloss, argnums=(0, 1)))
        jh = jax.jit(lambda a, b, u, v: jax.jvp(jax.grad(jloss, argnums=(0, 1)), (a, b), (u, v)))
        args = [jnp.asarray(a) for a in (W1, W2, V1, V2)]
        j_grad = measure(lambda: jax.block_until_ready(jg(args[0], args[1])))
        j_hvp = measure(lambda: jax.block_until_ready(jh(*args)))
        rest()
        print(f"  JAX jit: gradient {j_grad[0] * 1e3:.3f} ms, hvp {j_hvp[0] * 1e3:.3f} ms, "
              f"hvp / gradient = {j_hvp[0] / j_grad[0]:.2f}")
    report("  the same figures (chainrule hvp against each)", rows, baseline="chainrule hvp")


if __name__ == "__main__":
    which = sys.argv[1:] or ["overhead", "jacobian", "hvp"]
    if jax is not None:
        import jax.numpy  # noqa: F401  (imported before settle(), like the rest)
    settle()
    for name in which:
        {"overhead": overhead, "jacobian": jacobian, "hvp": hvp}[name]()
