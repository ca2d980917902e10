"""chainrule.explain: the chain-rule factorisation of a derivative, with its numbers checked."""

from __future__ import annotations

import html
import re
import sys
import types

import numpy as np
import pytest
from conftest import numerical_jacobian

import chainrule as cr
import chainrule.numpy as cnp
import chainrule.special as sp
from chainrule.explain import Explanation, explain

W = np.array([0.3, 0.1, -0.4])
X = np.array([1.0, -2.0, 0.5])


def lecture_loss(w):
    """The lecture's worked example L = −log σ(wᵀx) for a label y = +1."""
    return -cnp.log(sp.sigmoid(w @ X))


def sigma(a):
    return 1.0 / (1.0 + np.exp(-a))


# ----------------------------------------------------------------------- the worked example

def test_worked_example_lists_each_intermediate_variable_with_its_operation_and_shape():
    e = explain(lecture_loss, W, names=["a", "p", "log_p", "L"])
    assert isinstance(e, Explanation)
    assert [(v.name, v.op, v.shape, v.role) for v in e.variables] == [
        ("w", None, (3,), "input"), ("a", "matmul", (), "intermediate"), ("p", "sigmoid", (), "intermediate"),
        ("log_p", "log", (), "intermediate"), ("L", "negative", (), "output")]
    np.testing.assert_allclose(e.variables[2].value, sigma(W @ X), rtol=1e-15)


def test_worked_example_local_jacobians_are_the_lectures_factors_in_numerator_layout():
    e = explain(lecture_loss, W, names=["a", "p", "log_p", "L"])
    p = sigma(W @ X)
    by_label = {j.label: j.matrix for j in e.jacobians}
    assert [j.label for j in e.jacobians] == ["∂a/∂w", "∂p/∂a", "∂log_p/∂p", "∂L/∂log_p"]
    assert [j.shape for j in e.jacobians] == [(1, 3), (1, 1), (1, 1), (1, 1)]
    np.testing.assert_allclose(by_label["∂a/∂w"], X[None, :], rtol=1e-15)       # ∂(wᵀx)/∂w = xᵀ
    np.testing.assert_allclose(by_label["∂p/∂a"], [[p * (1 - p)]], rtol=1e-14)  # σ' = σ(1 − σ)
    np.testing.assert_allclose(by_label["∂log_p/∂p"], [[1 / p]], rtol=1e-14)
    np.testing.assert_allclose(by_label["∂L/∂log_p"], [[-1.0]], rtol=0)


def test_worked_example_product_is_minus_one_minus_p_times_x_transpose_and_matches_jacobian_matrix():
    e = explain(lecture_loss, W)
    p = sigma(W @ X)
    assert e.is_chain
    assert e.total.shape == (1, 3)
    np.testing.assert_allclose(e.total, -(1 - p) * X[None, :], rtol=1e-13)
    np.testing.assert_allclose(e.reference, cr.jacobian_matrix(lecture_loss)(W), rtol=0)
    assert e.agrees and e.max_error < 1e-15


def test_worked_example_backward_pass_is_one_vjp_per_operation_from_the_output_to_the_input():
    e = explain(lecture_loss, W, names=["a", "p", "log_p", "L"])
    assert [(s.of, s.wrt) for s in e.backward] == [("L", "log_p"), ("log_p", "p"), ("p", "a"), ("a", "w")]
    p = sigma(W @ X)
    np.testing.assert_allclose(e.backward[0].result, [[-1.0]])
    np.testing.assert_allclose(e.backward[1].result, [[-1 / p]], rtol=1e-14)
    np.testing.assert_allclose(e.backward[2].result, [[-(1 - p)]], rtol=1e-13)
    # each step is the row vector of the previous one times one local Jacobian
    for step, jac in zip(e.backward, reversed(e.jacobians)):
        np.testing.assert_allclose(step.result, step.cotangent @ jac.matrix, rtol=1e-14)
    np.testing.assert_allclose(e.gradient["w"], cr.grad(lecture_loss)(W), rtol=1e-15)


def test_worked_example_text_shows_shapes_product_check_and_backward_pass():
    text = str(explain(lecture_loss, W, names=["a", "p", "log_p", "L"]))
    assert "a = matmul(w, const(3,))" in text
    assert "∂L/∂w = ∂L/∂log_p · ∂log_p/∂p · ∂p/∂a · ∂a/∂w" in text
    assert "(1×1) · (1×1) · (1×1) · (1×3) = 1×3" in text
    assert "they agree" in text
    assert "ḡ_w = ḡ_a · ∂a/∂w" in text
    assert repr(explain(lecture_loss, W)) == str(explain(lecture_loss, W))


def test_html_rendering_has_tables_of_variables_and_jacobians_and_escapes_names():
    e = explain(lecture_loss, W, names=["a", "p<1", "log_p", "L"])
    page = e._repr_html_()
    assert page.count("<table>") == 2
    assert "p&lt;1 = sigmoid(a)" in page and "p<1 =" not in page
    assert "∂a/∂w" in page and "agree" in page


# ----------------------------------------------------------------------- multivariate chains

def test_vector_chain_jacobian_shapes_line_up_and_their_product_is_the_finite_difference_jacobian(rng):
    A = rng.standard_normal((4, 3))      # g: R³ → R⁴
    B = rng.standard_normal((2, 4))      # f: R⁴ → R²
    f = lambda x: B @ cnp.tanh(A @ x)
    x = rng.standard_normal(3)
    e = explain(f, x)
    shapes = [j.shape for j in e.jacobians]
    assert shapes == [(4, 3), (4, 4), (2, 4)]
    assert all(a[1] == b[0] for a, b in zip(shapes[::-1], shapes[::-1][1:]))   # (k×m)(m×d)
    product = e.jacobians[2].matrix @ e.jacobians[1].matrix @ e.jacobians[0].matrix
    np.testing.assert_allclose(e.total, product, rtol=1e-14)
    np.testing.assert_allclose(e.total, numerical_jacobian(f, x), rtol=1e-7, atol=1e-9)
    assert e.backward is None and "Backward pass" not in str(e)      # not a scalar output


def test_tensors_are_strung_into_vectors_column_major_with_order_F():
    Xm = np.array([[1.0, 2.0], [3.0, 4.0]])
    e = explain(lambda X: X @ X, Xm, order="F")
    assert e.total.shape == (4, 4) and e.agrees
    # vec(X²) = (I ⊗ X + Xᵀ ⊗ I) vec(X), the Matrix Cookbook's identity for column-major vec
    np.testing.assert_allclose(e.total, np.kron(np.eye(2), Xm) + np.kron(Xm.T, np.eye(2)), rtol=1e-15)
    c = explain(lambda X: X @ X, Xm, order="C")
    assert not np.allclose(c.total, e.total)
    np.testing.assert_allclose(c.total, cr.jacobian_matrix(lambda X: X @ X)(Xm), rtol=1e-15)


def test_tensor_valued_intermediates_reshape_chain():
    e = explain(lambda x: cnp.sum(cnp.reshape(cnp.exp(x), (3, 2)), axis=0), np.linspace(0, 1, 6))
    assert [j.shape for j in e.jacobians] == [(6, 6), (6, 6), (2, 6)]
    assert e.is_chain and e.agrees


# ----------------------------------------------------------------------- fan-out: sum over paths

def test_a_value_used_twice_makes_the_total_jacobian_a_sum_over_paths():
    x = np.array([1.0, 2.0])
    e = explain(lambda x: x * cnp.sin(x), x)
    assert not e.is_chain
    assert e.fan_out == {"x": 2}
    assert e.path_count == 2 and e.paths == [["y", "x"], ["y", "v1", "x"]]
    np.testing.assert_allclose(sum(e.path_products), e.reference, rtol=1e-15)
    np.testing.assert_allclose(np.diag(e.total), np.sin(x) + x * np.cos(x), rtol=1e-14)
    text = str(e)
    assert "not a chain" in text and "sum over the 2 paths" in text and "x is used 2 times" in text


def test_backward_pass_with_fan_out_accumulates_the_cotangent_of_the_shared_value():
    f = lambda x: cnp.sum(x * cnp.exp(x))
    x = np.array([0.5, -1.0])
    e = explain(f, x)
    steps = [(s.wrt, s.accumulates) for s in e.backward]
    assert steps.count(("x", True)) == 1 and steps.count(("x", False)) == 1
    assert "ḡ_x +=" in str(e)
    np.testing.assert_allclose(e.gradient["x"], (1 + x) * np.exp(x), rtol=1e-14)


def test_many_paths_are_counted_and_summed_by_accumulation_without_listing_them():
    def f(x):
        for _ in range(7):
            x = x * x                   # each step doubles the number of paths
        return x

    x = np.array([1.01, 0.99])
    e = explain(f, x)
    assert e.path_count == 2 ** 7 and e.paths == []
    assert e.agrees
    np.testing.assert_allclose(np.diag(e.total), 128 * x ** 127, rtol=1e-12)


def test_several_inputs_are_concatenated_into_one_vector():
    Wm = np.array([[1.0, -1.0, 0.5], [0.2, 0.3, -0.7]])
    b = np.array([0.1, -0.2])
    f = lambda Wm, b: cnp.sum(cnp.tanh(Wm @ X + b))
    e = explain(f, Wm, b, argnums=(0, 1))
    assert e.total.shape == (1, 8) and e.agrees
    gW, gb = cr.grad(f, argnums=(0, 1))(Wm, b)
    np.testing.assert_allclose(e.total[0], np.concatenate([gW.ravel(), gb]), rtol=1e-14)
    np.testing.assert_allclose(e.gradient["b"], gb, rtol=1e-14)
    assert "2 inputs (Wm, b)" in str(e)


def test_an_input_the_output_ignores_gets_zero_columns():
    f = lambda u, v: cnp.sum(u ** 2)
    e = explain(f, np.array([1.0, 2.0]), np.array([3.0]), argnums=(0, 1))
    np.testing.assert_allclose(e.total, [[2.0, 4.0, 0.0]])
    assert e.agrees
    np.testing.assert_array_equal(e.gradient["v"], [0.0])


def test_primitive_with_several_outputs_is_one_variable_per_output_used():
    f = lambda x: cnp.sum(cnp.split(x, 2)[1] ** 2)
    x = np.array([1.0, 2.0, 3.0, 4.0])
    e = explain(f, x)
    assert e.variables[1].op == "split[1]"
    assert e.jacobians[0].shape == (2, 4)
    np.testing.assert_allclose(e.total, [[0.0, 0.0, 6.0, 8.0]])
    assert e.agrees


def test_float32_inputs_give_float32_jacobians():
    w32 = W.astype(np.float32)
    f = lambda w: -cnp.log(sp.sigmoid(w @ X.astype(np.float32)))
    e = explain(f, w32)
    assert all(j.matrix.dtype == np.float32 for j in e.jacobians)
    assert e.total.dtype == np.float32 and e.agrees


# ----------------------------------------------------------------------- errors

def test_wrong_number_of_names_is_refused_with_the_recorded_operations():
    with pytest.raises(ValueError, match=r"names has 2 entries but the function records 4 operations "
                                         r"\(matmul, sigmoid, log, negative\)"):
        explain(lecture_loss, W, names=["a", "L"])
    # a lambda is named in errors as the transforms name it, and as f in the formulas
    with pytest.raises(ValueError, match=r"^explain of <lambda>: names has 1 entry but the function"):
        explain(lambda w: cnp.sum(w * w), W, names=["a"])
    assert explain(lambda w: cnp.sum(w * w), W).function == "f"


def test_output_independent_of_the_input_is_refused():
    with pytest.raises(ValueError, match="does not depend on the differentiated argument"):
        explain(lambda w: np.ones(2), W)


def test_tuple_output_is_refused():
    with pytest.raises(TypeError, match="must return a single array"):
        explain(lambda w: (w, w), W)


def test_integer_input_is_refused_naming_the_argument():
    with pytest.raises(TypeError, match="argument 0"):
        explain(lambda w: w * 2.0, np.array([1, 2]))


def test_bad_order_and_missing_point_are_refused():
    with pytest.raises(ValueError, match="order must be 'C' or 'F'"):
        explain(lecture_loss, W, order="K")
    with pytest.raises(TypeError, match="give the point"):
        explain(lecture_loss)
    with pytest.raises(ValueError, match="argnums=3"):
        explain(lecture_loss, W, argnums=3)


def test_large_jacobians_are_refused_with_advice():
    with pytest.raises(ValueError, match="explain is for small examples"):
        explain(lambda x: cnp.exp(x), np.zeros(3000))


# ----------------------------------------------------------------------- the module and its edge cases

def test_the_explain_module_is_callable_and_keeps_its_classes_reachable():
    module = sys.modules["chainrule.explain"]          # what `import chainrule.explain as ex` binds
    assert isinstance(module, types.ModuleType) and module.Explanation is Explanation
    e = module(lecture_loss, W)
    assert isinstance(e, Explanation)
    np.testing.assert_array_equal(e.total, explain(lecture_loss, W).total)


def test_the_identity_is_explained_as_the_identity_matrix_under_the_inputs_own_name():
    x = np.array([1.0, 2.0])
    e = explain(lambda x: x, x)
    assert e.is_identity and e.agrees and e.jacobians == []
    assert [(v.name, v.role) for v in e.variables] == [("x", "input and output")]
    np.testing.assert_array_equal(e.total, np.eye(2))
    text = str(e)
    assert "x = f(x)" in text and "f returns its input x unchanged" in text and "2×2 identity matrix" in text
    assert "∂x/∂x = \n" not in text and "shapes:  =" not in text


def test_returning_one_of_two_inputs_gives_an_identity_block_and_zero_columns():
    e = explain(lambda u, v: u, np.array([1.0, 2.0]), np.array([3.0]), argnums=(0, 1))
    np.testing.assert_array_equal(e.total, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert "the other input (v) get zero columns" in str(e) and e.agrees


def test_an_unused_input_is_listed_in_argument_order_with_its_own_reason():
    e = explain(lambda w, x: cnp.sum(w * 2.0), np.array([1.0, 2.0]), np.array([2.0, 3.0]), argnums=(0, 1))
    assert [(v.name, v.role) for v in e.variables[:2]] == [("w", "input"), ("x", "unused input")]
    text = str(e)
    assert text.startswith("The chain rule for L = f(w, x) at the given point")
    assert "not a chain: ." not in text and "1 paths" not in text
    assert "x does not affect L, so its columns are zero" in text
    assert "There is one path from L to an input" in text
    rows = text.split("Variables\n")[1].split("\n\n")[0].splitlines()
    role_at = [row.index(v.role, row.index("shape")) for row, v in zip(rows, e.variables)]
    value_at = [len(row) - len(row[at + len(v.role):].lstrip())
                for row, at, v in zip(rows, role_at, e.variables)]
    assert len(set(role_at)) == 1 and len(set(value_at)) == 1          # the columns line up


@pytest.mark.parametrize("names,words", [(["a", "a", "L"], "'a' appears more than once"),
                                         (["x", "s", "L"], "'x', which is the name of an input")])
def test_names_must_differ_from_each_other_and_from_the_inputs(names, words):
    with pytest.raises(ValueError, match=words):
        explain(lambda x: cnp.sum(cnp.sin(cnp.cos(x))), np.array([1.0, 2.0]), names=names)


def test_a_value_used_as_two_arguments_of_one_operation_labels_each_jacobian_and_path():
    e = explain(lambda x: cnp.sum(x * x), np.array([1.0, 2.0]))
    labels = [j.label for j in e.jacobians]
    assert labels == ["∂v1/∂x (1st argument)", "∂v1/∂x (2nd argument)", "∂L/∂v1"]
    assert e.path_arguments == [[0, 0], [0, 1]]
    text = str(e)
    assert "path L ← v1 ← x (as 1st argument of v1): 1×2" in text
    assert "path L ← v1 ← x (as 2nd argument of v1): 1×2" in text
    assert "ḡ_x = ḡ_v1 · ∂v1/∂x (1st argument)" in text and "ḡ_x += ḡ_v1 · ∂v1/∂x (2nd argument)" in text


def _doubling(x):
    for _ in range(7):
        x = x * x                       # 2⁷ paths: summed without being listed
    return cnp.sum(x)


def _html_text(page):
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.mark.parametrize("case", ["chain", "fan-out", "two inputs", "unused", "identity", "many paths"])
def test_html_shows_every_line_of_the_text_outside_the_tables(case):
    x = np.array([1.0, 2.0])
    e = {"chain": lambda: explain(lecture_loss, W, names=["a", "p", "log_p", "L"]),
         "fan-out": lambda: explain(lambda x: x * cnp.sin(x), x),
         "two inputs": lambda: explain(lambda w, x: cnp.sum(w * x), x, x + 1, argnums=(0, 1)),
         "unused": lambda: explain(lambda w, x: cnp.sum(w), x, x, argnums=(0, 1)),
         "identity": lambda: explain(lambda x: x, x),
         "many paths": lambda: explain(_doubling, x)}[case]()
    page = _html_text(e._repr_html_())
    text = str(e)
    tables = text.split("Variables\n")[1].split("\n\n")[0] + "\n" + (
        text.split("Local Jacobians (one per operation and traced argument)\n")[1].split("\n\n")[0]
        if e.jacobians else "")
    checked = 0
    for line in text.splitlines():
        if not line.strip() or line in tables.splitlines() or line.startswith(("Variables", "Local Jac")):
            continue
        assert " ".join(line.split()) in page, line
        checked += 1
    assert checked >= 4


def test_operation_labels_name_static_parameters_and_leave_out_defaults():
    Xm = np.array([[1.0, 2.0], [3.0, 4.0]])
    e = explain(lambda X: cnp.sum(cnp.transpose(cnp.sum(X[:, 1:], axis=0, keepdims=True) * X)), Xm)
    definitions = [f"{v.op}({', '.join(v.inputs)})" for v in e.variables if v.op]
    assert definitions == ["getitem(X, [:, 1:])", "sum(v1, axis=0, keepdims=True)", "multiply(v2, X)",
                           "transpose(v3)", "sum(v4)"]
    e = explain(lambda a, b: cnp.einsum("i,j->ij", a, b), np.ones(2), np.ones(3), argnums=(0, 1))
    assert e.variables[-1].inputs == ["'i,j->ij'", "a", "b"]


def test_import_chainrule_explain_gives_the_callable_module():
    import chainrule.explain as ex
    assert ex.Explanation is Explanation and isinstance(ex(lecture_loss, W), Explanation)
    assert isinstance(cr.explain(lecture_loss, W), Explanation)


def test_column_major_explanations_string_the_backward_rows_as_the_jacobians():
    W = np.array([[1.0, 10.0], [100.0, 1000.0]])
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    e = explain(lambda X: cnp.sum(W * cnp.tanh(X)), X, order="F")
    want = (W * (1 - np.tanh(X) ** 2)).reshape(1, -1, order="F")
    np.testing.assert_allclose(e.total, want, rtol=1e-12)
    for step in e.backward:                       # each printed product holds in this layout
        key = (step.of, step.wrt, step.argument)
        local = next(j.matrix for j in e.jacobians if (j.of, j.wrt, j.argument) == key)
        np.testing.assert_allclose(step.cotangent @ local, step.result, rtol=1e-12)
    np.testing.assert_allclose(e.backward[-1].result, want, rtol=1e-12)
    assert "[0.42  , 0.9866, 0.7065, 1.341 ]" in str(e)


def test_generated_names_avoid_the_names_of_the_inputs():
    def f(v1):
        return cnp.sum(cnp.exp(cnp.sin(v1)))
    e = explain(f, np.array([0.5, 1.0]))
    names = [v.name for v in e.variables]
    assert names[0] == "v1" and len(set(names)) == len(names)
    assert "v1 = sin(v1)" not in str(e)

    def h(v1, w):
        return cnp.sum(cnp.sin(v1) * cnp.cos(w))
    assert explain(h, np.array([0.5]), np.array([1.0]), argnums=(0, 1)).fan_out == {}


def test_a_local_jacobian_too_large_to_show_is_refused_before_it_is_built():
    with pytest.raises(ValueError, match=r"would have 62500×250 entries; explain is for small examples"):
        explain(lambda x: cnp.sum(cnp.outer(x, x)), np.linspace(0, 1, 250))
