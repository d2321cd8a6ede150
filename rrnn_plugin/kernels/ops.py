"""The compiled kernels as registered torch operators: `torch.ops.rrnn.*` (issue 14).

An operator registered with `torch.library` (schema, fake implementation, autograd formula) is
something torch.compile traces through without a graph break, torch.export records in the
exported program, and `torch.library.opcheck` can test.  A plain autograd.Function around a
pybind11 call is none of these.  The operators here wrap the same C++/CUDA entry points
(`csrc/*_bindings.cpp`); `function.py` calls them.  Importing this module registers them, so a
process that loads an exported program must `import rrnn_plugin.kernels` first.

    rrnn::recurrence(u, f, mask, semiring, save_states, flush) -> (final, states)
    rrnn::recurrence_backward(u, f, mask, states, grad_final, grad_states, semiring, flush) -> (grad_u, grad_f)
    rrnn::layer(projection, offsets, mask, semiring, width, save_states, flush) -> (final, states)
    rrnn::layer_backward(projection, offsets, mask, states, grad_final, grad_states, semiring, width, flush)
        -> grad_projection

`semiring` is the integer code of `function.SEMIRING_CODES`.  Without `save_states` the second
output is an empty tensor: inference does not keep every step.  The backward needs every step's
state (plus-times cannot be run backwards stably), so a forward that autograd records always saves
them.  The backward operators have no derivative themselves (double backward is refused).
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from rrnn_plugin.kernels import _loader


def _module(device: torch.device, entry: str):
    module, error = _loader.load(device.type)
    if module is None or not hasattr(module, entry):
        raise RuntimeError(f"rrnn: no compiled kernel with {entry} for {device.type} ({error})")
    return module


def _grad_or_none(grad: Tensor) -> Optional[Tensor]:
    return None if grad is None else grad.contiguous()


def _require_saved_states(ctx, name: str) -> None:
    if not ctx.saved_states:
        raise RuntimeError(f"rrnn::{name}: backward through a forward run with save_states=False "
                           "(the backward needs every step's state)")


# ----- grid recurrence: u, f already on the (WFSA, state) grid -----------------------------------
@torch.library.custom_op("rrnn::recurrence", mutates_args=())
def recurrence(
    u: Tensor, f: Tensor, mask: Optional[Tensor], semiring: int, save_states: bool, flush: bool
) -> Tuple[Tensor, Tensor]:
    final, states = _module(u.device, "forward").forward(u, f, mask, semiring, save_states, flush)
    return final, (states if save_states else u.new_empty(0))


@recurrence.register_fake
def _(u, f, mask, semiring, save_states, flush):
    batch, _, num_wfsas, num_states = u.shape
    return u.new_empty(batch, num_wfsas, num_states), (u.new_empty(u.shape) if save_states else u.new_empty(0))


@torch.library.custom_op("rrnn::recurrence_backward", mutates_args=())
def recurrence_backward(
    u: Tensor, f: Tensor, mask: Optional[Tensor], states: Tensor, grad_final: Optional[Tensor],
    grad_states: Optional[Tensor], semiring: int, flush: bool,
) -> Tuple[Tensor, Tensor]:
    module = _module(u.device, "backward")
    return module.backward(u, f, mask, states, grad_final, grad_states, semiring, flush)


@recurrence_backward.register_fake
def _(u, f, mask, states, grad_final, grad_states, semiring, flush):
    return u.new_empty(u.shape), f.new_empty(f.shape)


def _recurrence_context(ctx, inputs, output):
    u, f, mask, semiring, save_states, flush = inputs
    ctx.semiring, ctx.flush, ctx.saved_states = semiring, flush, save_states
    ctx.set_materialize_grads(False)  # an unused output's gradient stays None, not a (B, T, K, S) of zeros
    ctx.save_for_backward(u, f, mask, output[1])


def _recurrence_grad(ctx, grad_final, grad_states):
    _require_saved_states(ctx, "recurrence")
    u, f, mask, states = ctx.saved_tensors
    grad_u, grad_f = torch.ops.rrnn.recurrence_backward(
        u, f, mask, states, _grad_or_none(grad_final), _grad_or_none(grad_states), ctx.semiring, ctx.flush
    )
    return grad_u, grad_f, None, None, None, None


recurrence.register_autograd(_recurrence_grad, setup_context=_recurrence_context)


# ----- fused layer (CPU): the projection in, the transition weights formed inside ---------------
@torch.library.custom_op("rrnn::layer", mutates_args=())
def layer(
    projection: Tensor, offsets: Tensor, mask: Optional[Tensor], semiring: int, width: int, save_states: bool,
    flush: bool,
) -> Tuple[Tensor, Tensor]:
    module = _module(projection.device, "layer_forward")
    final, states = module.layer_forward(projection, offsets, mask, semiring, width, save_states, flush)
    return final, (states if save_states else projection.new_empty(0))


@layer.register_fake
def _(projection, offsets, mask, semiring, width, save_states, flush):
    batch, steps, double_states = projection.shape
    final = projection.new_empty(batch, offsets.shape[0] - 1, width)
    states = projection.new_empty(batch, steps, double_states // 2) if save_states else projection.new_empty(0)
    return final, states


@torch.library.custom_op("rrnn::layer_backward", mutates_args=())
def layer_backward(
    projection: Tensor, offsets: Tensor, mask: Optional[Tensor], states: Tensor, grad_final: Optional[Tensor],
    grad_states: Optional[Tensor], semiring: int, width: int, flush: bool,
) -> Tensor:
    module = _module(projection.device, "layer_backward")
    return module.layer_backward(projection, offsets, mask, states, grad_final, grad_states, semiring, width, flush)


@layer_backward.register_fake
def _(projection, offsets, mask, states, grad_final, grad_states, semiring, width, flush):
    return projection.new_empty(projection.shape)


def _layer_context(ctx, inputs, output):
    projection, offsets, mask, semiring, width, save_states, flush = inputs
    ctx.semiring, ctx.width, ctx.flush, ctx.saved_states = semiring, width, flush, save_states
    ctx.set_materialize_grads(False)
    ctx.save_for_backward(projection, offsets, mask, output[1])


def _layer_grad(ctx, grad_final, grad_states):
    _require_saved_states(ctx, "layer")
    projection, offsets, mask, states = ctx.saved_tensors
    grad_projection = torch.ops.rrnn.layer_backward(
        projection, offsets, mask, states, _grad_or_none(grad_final), _grad_or_none(grad_states), ctx.semiring,
        ctx.width, ctx.flush,
    )
    return grad_projection, None, None, None, None, None, None


layer.register_autograd(_layer_grad, setup_context=_layer_context)


# Load the kernels now rather than at the first call (kernels/_loader.py caches the result): choosing a backend reads the library's file
# once (kernels/_loader.py), which torch.compile cannot trace; afterwards the choice is a dict lookup.
_loader.load("cpu")
if torch.cuda.is_available():
    _loader.load("cuda")
