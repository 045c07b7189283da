"""Graph-IR passes: dead-code elimination, view/permute folding, transpose-into-matmul fusion."""

from __future__ import annotations

import torch
from torch.fx.experimental.proxy_tensor import make_fx

import buddy.frontend as bf
from buddy.frontend.graph import from_fx
from buddy.frontend.passes import dead_code_elimination, fold_views

aten = torch.ops.aten


def _graph(fn, *args):
    gm = make_fx(fn)(*args)
    n = len([p for p in gm.graph.nodes if p.op == "placeholder"])
    return from_fx(gm, [None] * n, {}, list(args))


def _ops(g):
    return [n.op for n in g.nodes]


def test_dce_drops_unused_nodes():
    def fn(x):
        aten.exp.default(x)  # result unused
        return aten.relu.default(x)
    g = dead_code_elimination(_graph(fn, torch.randn(3)))
    assert _ops(g) == ["aten.relu.default"]


def test_view_chains_and_inverse_permutes_fold_away():
    def fn(x):
        v = aten.view.default(aten.view.default(x, [6, 4]), [2, 3, 4])
        p = aten.permute.default(aten.permute.default(v, [2, 0, 1]), [1, 2, 0])
        return aten.add.Tensor(p, 1.0)
    x = torch.randn(4, 6)
    g = dead_code_elimination(fold_views(_graph(fn, x)))
    assert _ops(g) == ["aten.view.default", "aten.add.Tensor"]
    assert g.nodes[0].args[0].node == g.inputs[0].name  # views the input directly
    from buddy.frontend.importer import lower_graph
    out = lower_graph(g, run_passes=False).run(x)[0]
    torch.testing.assert_close(out, fn(x))


def test_composed_permutes_become_one():
    def fn(x):
        return aten.permute.default(aten.permute.default(x, [1, 2, 0]), [1, 0, 2])
    g = dead_code_elimination(fold_views(_graph(fn, torch.randn(2, 3, 4))))
    assert _ops(g) == ["aten.permute.default"]
    assert g.nodes[0].args[1] == [2, 1, 0]


def test_linear_weight_transpose_is_folded_by_buddy_opt_alone(tmp_path):
    """One owner for the transpose fold: the frontend emits linalg.transpose + linalg.matmul,
    the named pipeline's C++ pass folds it (the compiled numbers match eager)."""
    import subprocess

    import buddy
    from buddy.toolchain import find_tool

    lin = torch.nn.Linear(5, 3).eval()
    x = torch.randn(4, 5)
    g = bf.import_model(lin, (x,))
    assert _ops(g.graph) == ["aten.permute.default", "aten.addmm.default"]
    text = g.module.mlir_text
    assert "linalg.transpose" in text and "linalg.matmul" in text
    folded = subprocess.run([find_tool("buddy-opt"), "--buddy-fold-transpose-into-matmul"], input=text,
                            capture_output=True, text=True, check=True).stdout
    assert "linalg.transpose" not in folded and "linalg.matmul" in folded
    with torch.no_grad():
        torch.testing.assert_close(g.run(x)[0], lin(x))  # the reference JIT: transpose materialized
        torch.testing.assert_close(buddy.compile(lin, (x,), cache_dir=tmp_path, progress=False)(x), lin(x))


def test_params_are_function_arguments_and_stay_out_of_the_ir(tmp_path):
    lin = torch.nn.Linear(5, 3).eval()
    g = bf.import_model(lin, (torch.randn(2, 5),))
    assert [(p.name, p.dtype, p.shape) for p in g.params] == [("weight", "f32", (3, 5)), ("bias", "f32", (3,))]
    text = g.module.mlir_text
    ro = "{bufferization.writable = false}"  # arguments are never written (docs/interfaces.md)
    assert (f"func.func @forward(%arg0: tensor<3x5xf32> {ro}, %arg1: tensor<3xf32> {ro}, "
            f"%arg2: tensor<2x5xf32> {ro})") in text
    assert "dense<" not in text  # no weights baked in
    assert g.module.mlir_bytecode.startswith(b"ML\xefR")
    written = {}
    g.write_params(tmp_path / "w.bwt", writer=lambda path, ts: written.update({"path": path, "items": ts}))
    assert [n for n, _ in written["items"]] == ["weight", "bias"]
    torch.testing.assert_close(written["items"][0][1], lin.weight.detach())
