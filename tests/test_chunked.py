"""The chunked form of the PyTorch path (rrnn_plugin/modules/chunked.py, issue 17 item 4): equal to
the per-step loop in values and gradients for every semiring, with masks, every step or the final
state, chunk counts that do and do not divide T; the encoder on it equals the independent slow
reference; RRNN_TORCH_RECURRENCE chooses, and a wrong value is an error."""
import pytest
import torch

from rrnn_plugin.modules import RationalRnnLayers, get_semiring
from rrnn_plugin.modules.chunked import chunk_length, chunked_recurrence
from rrnn_plugin.modules.recurrence import TORCH_METHOD_VAR, torch_method, torch_recurrence
from tests.reference_wfsa import reference_document_scores

SEMIRINGS = ["plus_times", "max_times", "max_plus"]


def _inputs(semiring, steps, seed=0):
    generator = torch.Generator().manual_seed(seed)
    u = torch.rand(3, steps, 4, 3, generator=generator, dtype=torch.float64)
    f = torch.rand(3, steps, 4, 3, generator=generator, dtype=torch.float64)
    if semiring == "max_plus":
        u, f = u.log(), f.log()
    mask = torch.ones(3, steps, dtype=torch.bool)
    mask[1, steps // 2:] = False
    mask[2, 1:] = False  # one real token: in max-plus the states it cannot reach stay -inf
    return u, f, mask


def _values_and_grads(function, u, f, mask, semiring, return_all, **kwargs):
    u = u.clone().requires_grad_()
    f = f.clone().requires_grad_()
    final, every = function(u, f, mask, get_semiring(semiring), return_all=return_all, **kwargs)
    values = final.flatten() if every is None else torch.cat([final.flatten(), every.flatten()])
    finite = torch.where(torch.isfinite(values), values, torch.zeros_like(values))
    (finite * torch.linspace(0.5, 1.5, values.numel(), dtype=values.dtype)).sum().backward()
    return values.detach(), u.grad, f.grad


@pytest.mark.parametrize("semiring", SEMIRINGS)
@pytest.mark.parametrize("steps,length", [(1, None), (5, None), (17, 4), (64, 8), (100, None)])
@pytest.mark.parametrize("return_all", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_chunked_equals_the_loop(semiring, steps, length, return_all, masked):
    u, f, mask = _inputs(semiring, steps)
    mask = mask if masked else None
    loop = _values_and_grads(torch_recurrence, u, f, mask, semiring, return_all)
    chunked = _values_and_grads(chunked_recurrence, u, f, mask, semiring, return_all, length=length)
    for ours, theirs in zip(chunked, loop):
        assert torch.equal(torch.isfinite(ours), torch.isfinite(theirs))
        finite = torch.isfinite(theirs)
        torch.testing.assert_close(ours[finite], theirs[finite], rtol=1e-10, atol=1e-12)


def test_chunk_length_is_about_the_square_root():
    assert [chunk_length(t) for t in (1, 16, 256, 1024, 4096)] == [4, 4, 16, 32, 64]


@pytest.mark.parametrize("semiring", SEMIRINGS)
def test_encoder_on_the_chunked_path_equals_the_reference(semiring, monkeypatch):
    monkeypatch.setenv(TORCH_METHOD_VAR, "chunked")
    torch.manual_seed(0)
    encoder = RationalRnnLayers(5, [1, 3, 2], semiring=semiring, backend="torch").double()
    documents = [torch.randn(n, 5, dtype=torch.float64) for n in (7, 3, 12)]
    tokens = torch.zeros(3, 12, 5, dtype=torch.float64)
    mask = torch.zeros(3, 12, dtype=torch.bool)
    for i, document in enumerate(documents):
        tokens[i, : len(document)] = document
        mask[i, : len(document)] = True
    scores = encoder(tokens, mask)
    for i, document in enumerate(documents):
        torch.testing.assert_close(scores[i], reference_document_scores(encoder, document))


def test_the_environment_chooses_and_a_wrong_value_is_an_error(monkeypatch):
    long_cpu = torch.zeros(1, 4096, 1, 1)
    assert torch_method(long_cpu) == "loop"  # on a CPU the loop is faster
    monkeypatch.setenv(TORCH_METHOD_VAR, "chunked")
    assert torch_method(torch.zeros(1, 3, 1, 1)) == "chunked"
    monkeypatch.setenv(TORCH_METHOD_VAR, "scan")
    with pytest.raises(ValueError, match=TORCH_METHOD_VAR):
        torch_method(long_cpu)
