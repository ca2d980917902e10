"""The functional transforms: grad, value_and_grad, vjp, jvp, jacobian, jacobian_matrix,
hessian and hvp, their layouts, their argument handling and how they nest."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import numerical_jacobian

import chainrule as cr
import chainrule.numpy as cnp

RNG = np.random.default_rng(7)
A = RNG.standard_normal((3, 3))
B = RNG.standard_normal((2, 4))


def cubic_sin(x):
    return x ** 3 * cnp.sin(x)


# ---------------------------------------------------------------------------- grad

def test_grad_of_a_quadratic_form_is_the_symmetrised_matrix_times_x():
    x = RNG.standard_normal(3)
    g = cr.grad(lambda x: x @ (A @ x))(x)
    np.testing.assert_allclose(g, (A + A.T) @ x, rtol=1e-13)
    assert g.shape == x.shape


def test_grad_accepts_python_floats_and_returns_a_float64_scalar():
    g = cr.grad(lambda x: x * x * x)(2.0)
    assert np.shape(g) == ()
    assert np.result_type(g) == np.float64
    assert g == 12.0


@pytest.mark.parametrize("bad,word", [(3, "integer"), (True, "boolean"), (np.arange(3), "int64"),
                                      (np.array([True, False]), "bool")])
def test_integer_and_boolean_arguments_raise_a_type_error_naming_the_argument(bad, word):
    def loss(w, b):
        return cnp.sum(w * b)

    with pytest.raises(TypeError, match=rf"grad of loss, argument 1: .*{word}"):
        cr.grad(loss, argnums=1)(np.ones(3), bad)
    with pytest.raises(TypeError, match=rf"jacobian of loss, argument 1: .*{word}"):
        cr.jacobian(loss, argnums=(0, 1), mode="fwd")(np.ones(3), bad)
    with pytest.raises(TypeError, match=rf"vjp of loss, argument 1: .*{word}"):
        cr.vjp(loss, np.ones(3), bad)
    with pytest.raises(TypeError, match=rf"jvp of loss, argument 0: .*{word}"):
        cr.jvp(loss, (bad, np.ones(3)), (np.ones(np.shape(bad)), np.ones(3)))


def test_integer_arguments_that_are_not_differentiated_are_fine():
    g = cr.grad(lambda x, n: cnp.sum(x ** n))(np.array([1.0, 2.0]), 3)
    np.testing.assert_array_equal(g, [3.0, 12.0])


def test_grad_of_a_non_scalar_function_raises_a_clear_type_error():
    with pytest.raises(TypeError, match=r"grad of double: the function must return a scalar, got "
                                        r"shape \(3,\); use jacobian\(\) or vjp\(\)"):
        def double(x):
            return 2.0 * x
        cr.grad(double)(np.ones(3))


def test_argnums_int_and_tuple_select_and_order_the_gradients():
    x, y, z = np.array(2.0), np.array(3.0), np.array(5.0)
    f = lambda x, y, z: x * y * y * z  # noqa: E731
    assert cr.grad(f)(x, y, z) == y * y * z
    assert cr.grad(f, argnums=1)(x, y, z) == 2 * x * y * z
    assert cr.grad(f, argnums=-1)(x, y, z) == x * y * y
    gz, gx = cr.grad(f, argnums=(2, 0))(x, y, z)
    assert (gz, gx) == (x * y * y, y * y * z)
    single = cr.grad(f, argnums=(1,))(x, y, z)
    assert isinstance(single, tuple) and len(single) == 1
    with pytest.raises(ValueError, match="argnums"):
        cr.grad(f, argnums=3)(x, y, z)


def test_grad_of_a_pytree_argument_has_the_same_structure():
    params = {"w": np.array([1.0, 2.0]), "b": [np.array(3.0), (np.array([4.0]),)]}

    def loss(p):
        return cnp.sum(p["w"] ** 2) + p["b"][0] * cnp.sum(p["b"][1][0])

    g = cr.grad(loss)(params)
    np.testing.assert_array_equal(g["w"], [2.0, 4.0])
    assert g["b"][0] == 4.0
    assert isinstance(g["b"], list) and isinstance(g["b"][1], tuple)
    np.testing.assert_array_equal(g["b"][1][0], [3.0])


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_namedtuples_ordered_dicts_and_defaultdicts_are_pytrees_as_in_jax(mode):
    import collections
    Layer = collections.namedtuple("Layer", "w b")
    params = collections.OrderedDict(second=Layer(np.array([1.0, 2.0]), np.array([3.0])),
                                     first=collections.defaultdict(list, v=np.array([5.0])))

    def loss(p):
        return cnp.sum(p["second"].w ** 2) * p["second"].b[0] + 2 * p["first"]["v"][0]

    g = cr.grad(loss)(params) if mode == "rev" else cr.jacobian(loss, mode="fwd")(params)
    assert type(g) is collections.OrderedDict and list(g) == ["second", "first"]
    assert type(g["second"]) is Layer and type(g["first"]) is collections.defaultdict
    assert g["first"].default_factory is list
    np.testing.assert_allclose(g["second"].w, [6.0, 12.0])             # 2 w b
    np.testing.assert_allclose(g["second"].b, [5.0])                   # Σ w²
    np.testing.assert_allclose(g["first"]["v"], [2.0])


def test_float32_arguments_give_float32_gradients():
    x = np.array([0.5, 1.5], np.float32)
    value, g = cr.value_and_grad(lambda x: cnp.sum(cnp.tanh(x) * 3.0))(x)
    assert value.dtype == np.float32 and g.dtype == np.float32
    assert cr.hessian(lambda x: cnp.sum(cnp.tanh(x) * 3.0))(x).dtype == np.float32


# ---------------------------------------------------------------------------- value_and_grad

def test_value_and_grad_returns_the_value_and_the_gradient():
    x = np.array([0.3, -0.4])
    value, g = cr.value_and_grad(lambda x: cnp.sum(cnp.exp(x)))(x)
    assert value == np.sum(np.exp(x))
    np.testing.assert_allclose(g, np.exp(x), rtol=1e-15)


def test_value_and_grad_with_aux_returns_the_aux_untraced_and_not_differentiated():
    x = np.array([0.3, -0.4])

    def loss(x):
        hidden = cnp.tanh(x)
        return cnp.sum(hidden ** 2), {"hidden": hidden, "note": "anything"}

    (value, aux), g = cr.value_and_grad(loss, has_aux=True)(x)
    assert value == np.sum(np.tanh(x) ** 2)
    assert type(aux["hidden"]) is np.ndarray
    np.testing.assert_array_equal(aux["hidden"], np.tanh(x))
    assert aux["note"] == "anything"
    np.testing.assert_allclose(g, 2 * np.tanh(x) * (1 - np.tanh(x) ** 2), rtol=1e-14)
    g2, aux2 = cr.grad(loss, has_aux=True)(x)
    np.testing.assert_array_equal(g2, g)
    np.testing.assert_array_equal(aux2["hidden"], aux["hidden"])


def test_has_aux_requires_a_pair():
    with pytest.raises(TypeError, match="pair"):
        cr.value_and_grad(lambda x: cnp.sum(x), has_aux=True)(np.ones(2))


# ---------------------------------------------------------------------------- vjp and jvp

def test_vjp_can_be_called_many_times_with_different_cotangents():
    x = RNG.standard_normal((2, 3))
    out, pullback = cr.vjp(lambda x: cnp.tanh(x) @ B[:, :3].T, x)
    jac = cr.jacobian(lambda x: cnp.tanh(x) @ B[:, :3].T)(x)
    for _ in range(2):
        for ct in (np.ones(out.shape), RNG.standard_normal(out.shape)):
            (got,) = pullback(ct)
            np.testing.assert_allclose(got, np.tensordot(ct, jac, axes=2), rtol=1e-12, atol=1e-14)


def test_vjp_with_a_batch_of_cotangents_pulls_back_each_slice():
    x = RNG.standard_normal(3)
    y = RNG.standard_normal(3)
    f = lambda x, y: cnp.sin(x) * y + x ** 2  # noqa: E731
    _, pullback = cr.vjp(f, x, y)
    cts = RNG.standard_normal((4, 3))
    gx, gy = pullback(cts)
    assert gx.shape == (4, 3) and gy.shape == (4, 3)
    for k in range(4):
        ex, ey = pullback(cts[k])
        np.testing.assert_allclose(gx[k], ex, rtol=1e-14)
        np.testing.assert_allclose(gy[k], ey, rtol=1e-14)


def test_vjp_rejects_a_cotangent_of_the_wrong_shape():
    _, pullback = cr.vjp(lambda x: x * 2.0, np.ones(3))
    with pytest.raises(ValueError, match=r"\(4,\).*\(3,\)"):
        pullback(np.ones(4))


def test_vjp_of_an_output_that_does_not_depend_on_the_input_is_zero():
    _, pullback = cr.vjp(lambda x: np.ones(2), np.ones(3))
    (g,) = pullback(np.ones(2))
    np.testing.assert_array_equal(g, np.zeros(3))


def test_jvp_is_the_jacobian_times_the_tangent():
    x, v = RNG.standard_normal(3), RNG.standard_normal(3)
    f = lambda x: cnp.tanh(A @ x)  # noqa: E731
    value, tangent = cr.jvp(f, (x,), (v,))
    np.testing.assert_array_equal(value, np.tanh(A @ x))
    np.testing.assert_allclose(tangent, numerical_jacobian(f, x) @ v, rtol=1e-7)
    np.testing.assert_allclose(tangent, (1 - np.tanh(A @ x) ** 2) * (A @ v), rtol=1e-13)


def test_jvp_with_pytree_primals_and_outputs():
    primals = ({"a": np.array(2.0)}, [np.array([1.0, 3.0])])
    tangents = ({"a": np.array(1.0)}, [np.array([0.5, -1.0])])
    f = lambda d, l: {"p": d["a"] * l[0], "s": cnp.sum(l[0])}  # noqa: E731
    out, tan = cr.jvp(f, primals, tangents)
    np.testing.assert_array_equal(out["p"], [2.0, 6.0])
    np.testing.assert_array_equal(tan["p"], 1.0 * np.array([1.0, 3.0]) + 2.0 * np.array([0.5, -1.0]))
    assert tan["s"] == -0.5


def test_jvp_rejects_tangents_that_do_not_match_the_primals():
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        cr.jvp(lambda x: x, (np.ones(3),), (np.ones(2),))


# ---------------------------------------------------------------------------- jacobian

@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_jacobian_has_shape_out_shape_plus_in_shape_and_matches_finite_differences(mode):
    x = RNG.standard_normal((2, 3))
    f = lambda x: cnp.sin(x) * cnp.sum(x)  # noqa: E731
    jac = cr.jacobian(f, mode=mode)(x)
    assert jac.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(jac, numerical_jacobian(f, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_jacobian_of_a_scalar_function_is_shaped_like_the_input(mode):
    x = RNG.standard_normal((2, 2))
    jac = cr.jacobian(lambda x: cnp.sum(x ** 2), mode=mode)(x)
    np.testing.assert_allclose(jac, 2 * x, rtol=1e-15)


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_jacobian_with_pytree_inputs_and_outputs(mode):
    inp = {"x": np.array([1.0, 2.0]), "y": (np.array([0.5, 1.0, 1.5]), [np.ones((2, 2))])}

    def f(d):
        x, (y, [m]) = d["x"], d["y"]
        return {"a": x * y[:2], "b": [cnp.sin(m), cnp.sum(x)], "c": (m @ x,)}

    jac = cr.jacobian(f, mode=mode)(inp)
    assert set(jac) == {"a", "b", "c"}
    assert isinstance(jac["b"], list) and isinstance(jac["c"], tuple)
    assert isinstance(jac["a"]["y"], tuple) and isinstance(jac["a"]["y"][1], list)
    assert jac["a"]["x"].shape == (2, 2)
    assert jac["a"]["y"][0].shape == (2, 3)
    assert jac["a"]["y"][1][0].shape == (2, 2, 2)
    assert jac["b"][0]["y"][1][0].shape == (2, 2, 2, 2)
    assert jac["b"][1]["x"].shape == (2,)
    assert jac["c"][0]["y"][1][0].shape == (2, 2, 2)
    np.testing.assert_array_equal(jac["a"]["x"], np.diag([0.5, 1.0]))
    np.testing.assert_array_equal(jac["a"]["y"][0], [[1.0, 0, 0], [0, 2.0, 0]])
    np.testing.assert_array_equal(jac["a"]["y"][1][0], np.zeros((2, 2, 2)))
    np.testing.assert_allclose(jac["b"][0]["y"][1][0],
                               np.diag(np.cos(np.ones(4))).reshape(2, 2, 2, 2), rtol=1e-15)
    np.testing.assert_array_equal(jac["b"][1]["x"], [1.0, 1.0])
    np.testing.assert_array_equal(jac["c"][0]["x"], np.ones((2, 2)))
    # ∂(m @ x)_i / ∂m_jk = δ_ij x_k
    np.testing.assert_array_equal(jac["c"][0]["y"][1][0], np.einsum("ij,k->ijk", np.eye(2), inp["x"]))


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_jacobian_with_tuple_argnums_gives_one_block_per_argument(mode):
    x, y = RNG.standard_normal(3), RNG.standard_normal(2)
    f = lambda x, y: x[:2] * y  # noqa: E731
    jx, jy = cr.jacobian(f, argnums=(0, 1), mode=mode)(x, y)
    np.testing.assert_array_equal(jx, np.diag(y) @ np.eye(3)[:2])
    np.testing.assert_array_equal(jy, np.diag(x[:2]))


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_jacobian_has_aux(mode):
    x = np.array([1.0, 2.0])
    jac, aux = cr.jacobian(lambda x: (x * x, cnp.sum(x)), mode=mode, has_aux=True)(x)
    np.testing.assert_array_equal(jac, np.diag(2 * x))
    assert aux == 3.0


def test_jacobian_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        cr.jacobian(lambda x: x, mode="sideways")


@pytest.mark.parametrize("outer", ["rev", "fwd"])
@pytest.mark.parametrize("inner", ["rev", "fwd"])
def test_jacobian_of_jacobian_gives_the_second_derivatives_in_every_mode_mix(outer, inner):
    x = np.array([0.7, -1.2, 0.4])

    def f(x):   # (x0·x1·x2, sin x0 + x1²·x2)
        e0, e1 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
        return x[0] * x[1] * x[2] * e0 + (cnp.sin(x[0]) + x[1] ** 2 * x[2]) * e1

    x0, x1, x2 = x
    expected = np.array([
        [[0, x2, x1], [x2, 0, x0], [x1, x0, 0]],
        [[-np.sin(x0), 0, 0], [0, 2 * x2, 2 * x1], [0, 2 * x1, 0]],
    ])
    second = cr.jacobian(cr.jacobian(f, mode=inner), mode=outer)(x)
    assert second.shape == (2, 3, 3)
    np.testing.assert_allclose(second, expected, rtol=1e-14, atol=1e-15)


# ---------------------------------------------------------------------------- jacobian_matrix

def test_jacobian_matrix_in_column_major_order_is_matlabs_kronecker_form():
    # MATLAB: vec(A X B) = kron(B', A) vec(X), vec stacking columns
    a, b = RNG.standard_normal((2, 3)), RNG.standard_normal((4, 5))
    x = RNG.standard_normal((3, 4))
    for mode in ("rev", "fwd"):
        jac = cr.jacobian_matrix(lambda x: a @ x @ b, order="F", mode=mode)(x)
        assert jac.shape == (10, 12)
        np.testing.assert_allclose(jac, np.kron(b.T, a), rtol=1e-12, atol=1e-14)


def test_jacobian_matrix_in_column_major_order_matches_a_hand_built_vec():
    x = RNG.standard_normal((2, 3))
    f = lambda x: cnp.tanh(x) * x[:, :1]  # noqa: E731
    vec = lambda m: m.reshape(-1, order="F")  # noqa: E731
    unvec = lambda v: v.reshape((2, 3), order="F")  # noqa: E731
    expected = numerical_jacobian(lambda v: vec(np.asarray(f(unvec(v)))), vec(x))
    jac = cr.jacobian_matrix(f, order="F")(x)
    np.testing.assert_allclose(jac, expected, rtol=1e-6, atol=1e-8)


def test_jacobian_matrix_in_row_major_order_is_the_reshaped_jacobian():
    a, b = RNG.standard_normal((2, 3)), RNG.standard_normal((4, 5))
    x = RNG.standard_normal((3, 4))
    jac = cr.jacobian_matrix(lambda x: a @ x @ b)(x)
    # row-major vec(A X B) = kron(A, B') vec(X)
    np.testing.assert_allclose(jac, np.kron(a, b.T), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(jac, cr.jacobian(lambda x: a @ x @ b)(x).reshape(10, 12))


def test_jacobian_matrix_with_several_arguments_concatenates_their_columns():
    x, y = RNG.standard_normal(3), RNG.standard_normal(2)
    f = lambda x, y: x[:2] * y  # noqa: E731
    jac = cr.jacobian_matrix(f, argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(jac, np.hstack([np.diag(y) @ np.eye(3)[:2], np.diag(x[:2])]))


def test_jacobian_matrix_rejects_an_unknown_order():
    with pytest.raises(ValueError, match="order"):
        cr.jacobian_matrix(lambda x: x, order="K")


# ---------------------------------------------------------------------------- hessian and hvp

def test_hessian_of_a_quadratic_form_is_the_symmetrised_matrix():
    x = RNG.standard_normal(3)
    hess = cr.hessian(lambda x: x @ (A @ x) + cnp.sum(x))(x)
    np.testing.assert_allclose(hess, A + A.T, rtol=1e-14)


def mlp_loss(w, x, v, y):
    return cnp.mean((cnp.tanh(x @ w) @ v - y) ** 2)


def test_hessian_of_a_tanh_mlp_loss_matches_finite_differences_of_the_gradient():
    w = RNG.standard_normal((3, 4)) * 0.5
    x, v, y = RNG.standard_normal((5, 3)), RNG.standard_normal(4), RNG.standard_normal(5)
    hess = cr.hessian(mlp_loss)(w, x, v, y)
    assert hess.shape == (3, 4, 3, 4)
    expected = numerical_jacobian(lambda w: cr.grad(mlp_loss)(w, x, v, y), w)
    np.testing.assert_allclose(hess, expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(hess, hess.transpose(2, 3, 0, 1), rtol=1e-12, atol=1e-14)


def test_hvp_is_the_hessian_times_a_vector():
    w = RNG.standard_normal((3, 4)) * 0.5
    x, v, y = RNG.standard_normal((5, 3)), RNG.standard_normal(4), RNG.standard_normal(5)
    direction = RNG.standard_normal((3, 4))
    hv = cr.hvp(lambda w: mlp_loss(w, x, v, y), (w,), (direction,))
    hess = cr.hessian(mlp_loss)(w, x, v, y)
    np.testing.assert_allclose(hv, np.tensordot(hess, direction, axes=2), rtol=1e-12, atol=1e-14)


def test_hvp_of_several_arguments_returns_one_block_per_argument():
    # f(a, b) = a² b: H = [[2b, 2a], [2a, 0]]
    a, b, ta, tb = np.array(1.5), np.array(-0.5), np.array(0.3), np.array(2.0)
    ha, hb = cr.hvp(lambda a, b: a * a * b, (a, b), (ta, tb))
    np.testing.assert_allclose(ha, 2 * b * ta + 2 * a * tb, rtol=1e-15)
    np.testing.assert_allclose(hb, 2 * a * ta, rtol=1e-15)


# ---------------------------------------------------------------------------- nesting

def test_grad_nests_to_third_order():
    x = np.array(0.8)
    s, c = np.sin(x), np.cos(x)
    d1 = cr.grad(cubic_sin)
    d2 = cr.grad(d1)
    d3 = cr.grad(d2)
    np.testing.assert_allclose(d1(x), 3 * x ** 2 * s + x ** 3 * c, rtol=1e-14)
    np.testing.assert_allclose(d2(x), 6 * x * s + 6 * x ** 2 * c - x ** 3 * s, rtol=1e-14)
    np.testing.assert_allclose(d3(x), 6 * s + 18 * x * c - 9 * x ** 2 * s - x ** 3 * c, rtol=1e-13)


def test_third_derivative_by_any_mix_of_modes_agrees():
    x = np.array(0.8)
    expected = cr.grad(cr.grad(cr.grad(cubic_sin)))(x)
    for m1 in ("rev", "fwd"):
        for m2 in ("rev", "fwd"):
            got = cr.jacobian(cr.jacobian(cr.grad(cubic_sin), mode=m1), mode=m2)(x)
            np.testing.assert_allclose(got, expected, rtol=1e-13)


def test_an_inner_grad_closing_over_an_outer_traced_value_does_not_confuse_perturbations():
    # d/dx [x · d/dy (x + y)] = d/dx [x · 1] = 1 at any x
    for x in (0.0, 3.0, -2.5):
        f = lambda x: x * cr.grad(lambda y: x + y)(1.0)  # noqa: E731
        assert cr.grad(f)(x) == 1.0
        assert cr.jacobian(f, mode="fwd")(x) == 1.0
        g = lambda x: x * cr.jvp(lambda y: x + y, (1.0,), (1.0,))[1]  # noqa: E731
        assert cr.grad(g)(x) == 1.0
        assert cr.jacobian(g, mode="fwd")(x) == 1.0


def test_an_inner_derivative_that_depends_on_the_outer_value_is_differentiated():
    # d/dx [x · d/dy (x·y)] = d/dx [x²] = 2x
    x = 1.7
    f = lambda x: x * cr.grad(lambda y: x * y)(1.0)  # noqa: E731
    np.testing.assert_allclose(cr.grad(f)(x), 2 * x, rtol=1e-15)
    np.testing.assert_allclose(cr.jacobian(f, mode="fwd")(x), 2 * x, rtol=1e-15)


def test_an_output_that_is_the_input_itself_adds_its_cotangent_to_the_others():
    x = np.array([1.0, 2.0])
    _, pullback = cr.vjp(lambda x: (x, 2 * x), x)
    np.testing.assert_array_equal(pullback((np.ones(2), np.ones(2)))[0], [3.0, 3.0])
    for mode in ("rev", "fwd"):
        first, second = cr.jacobian(lambda x: (x, 2 * x), mode=mode)(x)
        np.testing.assert_array_equal(first, np.eye(2))
        np.testing.assert_array_equal(second, 2 * np.eye(2))
    t = cr.tensor(x, requires_grad=True)
    (t * 1.0 + t).backward(np.ones(2))
    np.testing.assert_array_equal(t.grad, [2.0, 2.0])


def test_derivatives_are_separate_writable_arrays_not_views_of_each_other_or_of_the_cotangent():
    c = np.array([1.0, 2.0, 3.0])
    gx, gy = cr.grad(lambda a, b: cnp.sum((a + b) * c), argnums=(0, 1))(np.ones(3), np.ones(3))
    gx *= 0.1                                           # scaling one leaves the other alone
    np.testing.assert_array_equal(gy, c)
    d = cr.grad(lambda p: cnp.sum(p["w"] + p["b"]))({"w": np.ones(2), "b": np.ones(2)})
    assert not np.may_share_memory(d["w"], d["b"])
    g = cr.grad(lambda a: cnp.sum(a))(np.ones(3))      # a broadcast of the seed inside
    g -= 1
    np.testing.assert_array_equal(g, np.zeros(3))
    ct = np.ones(3)
    (back,) = cr.vjp(lambda a: a, np.zeros(3))[1](ct)
    back[0] = 5.0
    np.testing.assert_array_equal(ct, np.ones(3))


def test_an_aux_output_stays_differentiable_by_an_enclosing_transform():
    # only the levels of transforms that have returned are stripped from aux, as in JAX
    inner = lambda x: cr.grad(lambda y: (y * y, 3.0 * x), has_aux=True)(1.0)[1]
    assert cr.grad(inner)(2.0) == 3.0
    assert cr.jvp(lambda x: cr.grad(lambda y: (y * y, x * x), has_aux=True)(1.0)[1], (2.0,), (1.0,))[1] == 4.0
    for mode in ("rev", "fwd"):
        f = lambda x: cnp.sum(cr.jacobian(lambda y: (y * x, x * x), has_aux=True, mode=mode)(np.ones(2))[1])
        assert cr.grad(f)(2.0) == 4.0
    g, aux = cr.grad(lambda y: (y * y, y * 3.0), has_aux=True)(2.0)
    assert type(aux) is np.ndarray and aux == 6.0


def test_jvp_and_hvp_refuse_primals_that_are_not_a_tuple_of_arguments():
    for call in (lambda: cr.jvp(lambda a: a * 2, np.ones((1, 3)), np.ones((1, 3))),
                 lambda: cr.hvp(lambda a: cnp.sum(a ** 3), np.ones((1, 3)), np.ones((1, 3)))):
        with pytest.raises(TypeError, match="primals must be a tuple or list with one entry per argument"):
            call()


def test_a_traced_keyword_argument_of_a_primitive_is_refused_and_a_static_one_works():
    from chainrule.extend import defjvp, defvjp, primitive
    scale = primitive(lambda x, s=1.0: x * s, name="scale")
    defvjp(scale, lambda g, ans, x, s=1.0: g * s)
    defjvp(scale, lambda t, ans, x, s=1.0: t * s)
    with pytest.raises(TypeError, match="scale: the keyword argument s= is a traced value"):
        cr.grad(lambda x: cnp.sum(scale(x, s=x)))(np.array([2.0]))
    np.testing.assert_array_equal(cr.grad(lambda x: cnp.sum(scale(x, s=3.0)))(np.array([2.0])), [3.0])
    with pytest.raises(ValueError, match="multiple=True with broadcasts=True is not supported"):
        primitive(lambda a, b: (a, b), name="pair", multiple=True, broadcasts=True)
