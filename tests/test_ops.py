"""The kernels as registered operators (rrnn_plugin/kernels/ops.py, issue 14): torch.library.opcheck
for every semiring and dtype, torch.compile of the encoder without graph breaks and equal to eager
(forward and gradients), torch.export of the encoder with dynamic batch and length."""
import pytest
import torch

from rrnn_plugin.kernels import _loader
from rrnn_plugin.kernels.function import SEMIRING_CODES, _layout
from rrnn_plugin.modules import RationalRnnLayers

pytestmark = pytest.mark.skipif(_loader.load("cpu")[0] is None, reason="the CPU kernel is not built")
DTYPES = [torch.float32, torch.float64]


def _grid_inputs(semiring: str, dtype: torch.dtype, masked: bool):
    torch.manual_seed(0)
    u = torch.rand(3, 5, 4, 3, dtype=dtype)
    f = torch.rand(3, 5, 4, 3, dtype=dtype)
    if semiring == "max_plus":  # log-space weights
        u, f = u.log(), f.log()
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1, 3:] = False
    return u.requires_grad_(), f.requires_grad_(), (mask if masked else None)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("semiring", sorted(SEMIRING_CODES))
@pytest.mark.parametrize("masked", [True, False])
def test_opcheck_grid_recurrence(semiring, dtype, masked):
    u, f, mask = _grid_inputs(semiring, dtype, masked)
    code = SEMIRING_CODES[semiring]
    torch.library.opcheck(torch.ops.rrnn.recurrence.default, (u, f, mask, code, True, False))
    inference = (u.detach(), f.detach(), mask, code, False, False)
    torch.library.opcheck(torch.ops.rrnn.recurrence.default, inference)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("semiring", sorted(SEMIRING_CODES))
def test_opcheck_fused_layer(semiring, dtype):
    torch.manual_seed(0)
    lengths = (1, 3, 2, 3)
    offsets, _ = _layout(lengths, 3)
    projection = torch.randn(3, 5, 2 * sum(lengths), dtype=dtype, requires_grad=True)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[2, 1:] = False
    code = SEMIRING_CODES[semiring]
    torch.library.opcheck(torch.ops.rrnn.layer.default, (projection, offsets, mask, code, 3, True, False))
    torch.library.opcheck(torch.ops.rrnn.layer.default, (projection.detach(), offsets, None, code, 3, False, False))


def test_backward_without_saved_states_is_refused():
    u, f, mask = _grid_inputs("plus_times", torch.float64, True)
    final, _ = torch.ops.rrnn.recurrence(u, f, mask, 0, False, False)
    with pytest.raises(RuntimeError, match="save_states=False"):
        final.sum().backward()


def _encoder(semiring="plus_times"):
    torch.manual_seed(0)
    return RationalRnnLayers(input_dim=6, wfsa_lengths={"1": 2, "2": 3, "3": 2}, semiring=semiring,
                             num_layers=2, bidirectional=True, backend="cpp")


def _batch(batch=3, steps=7):
    torch.manual_seed(1)
    tokens = torch.randn(batch, steps, 6)
    mask = torch.ones(batch, steps, dtype=torch.bool)
    mask[1, steps // 2:] = False
    return tokens, mask


@pytest.mark.parametrize("semiring", ["plus_times", "max_plus"])
def test_compile_has_no_graph_break_and_matches_eager(semiring):
    torch._dynamo.reset()
    encoder = _encoder(semiring).eval()
    tokens, mask = _batch()
    explanation = torch._dynamo.explain(encoder)(tokens, mask)
    assert explanation.graph_break_count == 0, [b.reason for b in explanation.break_reasons]
    assert explanation.graph_count == 1

    compiled = torch.compile(encoder, backend="aot_eager", fullgraph=True)
    eager_tokens = tokens.clone().requires_grad_()
    compiled_tokens = tokens.clone().requires_grad_()
    eager = encoder(eager_tokens, mask)
    ours = compiled(compiled_tokens, mask)
    torch.testing.assert_close(ours, eager)
    eager.pow(2).sum().backward()
    ours.pow(2).sum().backward()
    torch.testing.assert_close(compiled_tokens.grad, eager_tokens.grad)


def test_export_with_dynamic_batch_and_length():
    encoder = _encoder().eval()
    tokens, mask = _batch()
    batch, steps = torch.export.Dim("batch"), torch.export.Dim("steps")
    program = torch.export.export(encoder, (tokens, mask),
                                  dynamic_shapes={"tokens": {0: batch, 1: steps}, "mask": {0: batch, 1: steps}})
    assert any("rrnn.layer" in str(node.target) for node in program.graph.nodes)
    other_tokens, other_mask = _batch(batch=5, steps=11)
    torch.testing.assert_close(program.module()(other_tokens, other_mask), encoder(other_tokens, other_mask))


def test_default_compile_backend_inductor_matches_eager():
    """What a user writes, `torch.compile(encoder)` with its default backend (inductor, C++ codegen on CPU)."""
    torch._dynamo.reset()
    encoder = _encoder()
    tokens, mask = _batch()
    eager_tokens, compiled_tokens = tokens.clone().requires_grad_(), tokens.clone().requires_grad_()
    compiled = torch.compile(encoder, fullgraph=True)
    ours, eager = compiled(compiled_tokens, mask), encoder(eager_tokens, mask)
    torch.testing.assert_close(ours, eager)
    ours.sum().backward()
    eager.sum().backward()
    torch.testing.assert_close(compiled_tokens.grad, eager_tokens.grad)
