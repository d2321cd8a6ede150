"""The compiled kernels agree with the PyTorch path and the reference; the backend switch works.

Three implementations of one layer are compared: the loop-over-everything reference
(tests/reference_wfsa.py), the vectorized PyTorch path, and the compiled kernels (the grid
recurrence `wfsa_recurrence(u, f)` and the fused layer the encoder uses on CPU).  Kernel tests
skip only when the kernel was never built (no .so next to the package); a built kernel that does
not import is a failure.  CUDA tests skip without a GPU.
"""
import glob
import os
import sys
import types
import warnings
from pathlib import Path

import pytest
import torch
from allennlp.common import Params
from allennlp.modules.seq2vec_encoders import Seq2VecEncoder

import rrnn_plugin.kernels as kernels
from rrnn_plugin.kernels import _loader, backend, denormals
from rrnn_plugin.encoders import RationalRnnEncoder
from rrnn_plugin.modules import ConfigurationError, get_semiring
from rrnn_plugin.modules.recurrence import wfsa_recurrence
from tests.reference_wfsa import reference_document_scores

SEMIRINGS = ["plus_times", "max_plus", "max_times"]
MIXED = {"1": 2, "2": 1, "3": 2, "4": 1}
CPU_BUILT = bool(glob.glob(os.path.join(os.path.dirname(kernels.__file__), "_wfsa_cpu*")))
needs_cpu_kernel = pytest.mark.skipif(not CPU_BUILT, reason="C++ kernel not built (python setup.py build_ext --inplace)")
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")


@pytest.fixture(autouse=True)
def clean_backend_state(monkeypatch):
    """Each test starts from an unset RRNN_BACKEND and fresh import/warning caches."""
    monkeypatch.delenv(backend.ENV_VAR, raising=False)
    backend.reset()
    yield
    backend.reset()


def _encoder(lengths=MIXED, semiring="plus_times", dim=5, backend_name="auto", dtype=torch.float64, seed=1):
    torch.manual_seed(seed)
    encoder = RationalRnnEncoder(dim, lengths, semiring=semiring, backend=backend_name).to(dtype)
    with torch.no_grad():  # non-zero biases so they matter
        encoder.state_params[:, -1].uniform_(-1, 1)
    return encoder


def _batch(lengths, dim, left_pad=False, dtype=torch.float64, seed=0):
    """Padded batch whose padding holds garbage, so only masking can make it harmless."""
    gen = torch.Generator().manual_seed(seed)
    steps = max(lengths)
    tokens = torch.randn(len(lengths), steps, dim, generator=gen, dtype=torch.float64).to(dtype)
    positions = torch.arange(steps).expand(len(lengths), steps)
    real = torch.tensor(lengths).unsqueeze(1)
    mask = positions >= steps - real if left_pad else positions < real
    return tokens, mask


def _grid_inputs(semiring, batch=3, steps=9, wfsas=4, width=3, dtype=torch.float64, inactive=True, seed=0):
    """Random u, f on a grid; with `inactive`, WFSA 1 has one state and WFSA 3 two, as the
    encoder lays out mixed lengths (u = semiring zero, f = 0 beyond a WFSA's length)."""
    gen = torch.Generator().manual_seed(seed)
    sr = get_semiring(semiring)
    u = torch.randn(batch, steps, wfsas, width, generator=gen, dtype=dtype)
    if semiring != "plus_times":
        u = torch.sigmoid(u)
    f = torch.rand(batch, steps, wfsas, width, generator=gen, dtype=dtype)
    for k, n in ((1, 1), (3, 2)) if inactive else ():
        u[:, :, k, n:] = sr.zero
        f[:, :, k, n:] = 0.0
    mask = torch.ones(batch, steps, dtype=torch.bool)
    mask[0, 6:] = False  # right padding
    mask[1, :4] = False  # left padding
    return u, f, mask


def _run_grid(u, f, mask, semiring, backend_name, return_all, seed=5):
    """Outputs and gradients w.r.t. u, f for random upstream gradients on every output cell."""
    u = u.clone().requires_grad_(True)
    f = f.clone().requires_grad_(True)
    final, history = wfsa_recurrence(u, f, mask, get_semiring(semiring), return_all=return_all, backend=backend_name)
    gen = torch.Generator().manual_seed(seed)
    outputs, upstream = [final], [torch.randn(final.shape, generator=gen, dtype=final.dtype)]
    if return_all:
        outputs.append(history)
        upstream.append(torch.randn(history.shape, generator=gen, dtype=history.dtype))
    grads = torch.autograd.grad(outputs, [u, f], upstream)
    return (final, history, *grads) if return_all else (final, *grads)


# ----- grid recurrence: kernel == PyTorch path -------------------------------------------------


@needs_cpu_kernel
@pytest.mark.parametrize("semiring", SEMIRINGS)
@pytest.mark.parametrize("return_all", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_grid_kernel_matches_torch_path(semiring, return_all, dtype):
    u, f, mask = _grid_inputs(semiring, dtype=dtype)
    got = _run_grid(u, f, mask, semiring, "cpp", return_all)
    want = _run_grid(u, f, mask, semiring, "torch", return_all)
    tolerance = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-6)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, **tolerance)


def _finite(x):
    """-inf (max-plus "no path") -> 0, so finite differences stay defined."""
    return torch.where(torch.isfinite(x), x, torch.zeros_like(x))


@needs_cpu_kernel
@pytest.mark.parametrize("semiring", SEMIRINGS)
def test_grid_kernel_gradcheck(semiring):
    u, f, mask = _grid_inputs(semiring, batch=2, steps=6, wfsas=2, width=3, inactive=False)
    sr = get_semiring(semiring)

    def run(u, f):
        final, history = wfsa_recurrence(u, f, mask, sr, return_all=True, backend="cpp")
        return _finite(final), _finite(history)

    assert torch.autograd.gradcheck(run, (u.requires_grad_(), f.requires_grad_()))


@needs_cpu_kernel
def test_grid_kernel_edge_shapes():
    sr = get_semiring("plus_times")
    empty = torch.zeros(2, 0, 3, 2, dtype=torch.float64)
    final, history = wfsa_recurrence(empty, empty, None, sr, return_all=True, backend="cpp")
    assert final.shape == (2, 3, 2) and torch.all(final == 0) and history.shape == (2, 0, 3, 2)
    u, f, _ = _grid_inputs("plus_times")
    no_mask = wfsa_recurrence(u, f, None, sr, backend="cpp")[0]
    all_real = wfsa_recurrence(u, f, torch.ones(u.shape[:2], dtype=torch.bool), sr, backend="cpp")[0]
    torch.testing.assert_close(no_mask, all_real, rtol=0, atol=0)
    nothing_real = wfsa_recurrence(u, f, torch.zeros(u.shape[:2], dtype=torch.bool), sr, backend="cpp")[0]
    assert torch.all(nothing_real == 0)


# ----- the encoder: kernel == PyTorch path == reference ----------------------------------------


def _encoder_outputs(encoder, tokens, mask):
    tokens = tokens.clone().requires_grad_(True)
    out = encoder(tokens, mask)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(7), dtype=out.dtype)
    grads = torch.autograd.grad((out * weights).sum(), [encoder.state_params, tokens])
    return out, grads, weights


@needs_cpu_kernel
@pytest.mark.parametrize("semiring", SEMIRINGS)
@pytest.mark.parametrize("left_pad", [False, True])
def test_encoder_kernel_matches_torch_and_reference(semiring, left_pad):
    lengths = [7, 3, 1, 5]
    tokens, mask = _batch(lengths, 5, left_pad=left_pad)
    encoder = _encoder(semiring=semiring, backend_name="cpp")
    out, grads, weights = _encoder_outputs(encoder, tokens, mask)
    torch_out, torch_grads, _ = _encoder_outputs(_encoder(semiring=semiring, backend_name="torch"), tokens, mask)
    for g, w in zip((out, *grads), (torch_out, *torch_grads)):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)
    assert grads[1][~mask].abs().max() == 0  # padding never influences the output

    # the reference, one unpadded document at a time
    x = tokens.clone().requires_grad_(True)
    expected = torch.stack([reference_document_scores(encoder, x[b][mask[b]]) for b in range(len(lengths))])
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)
    want = torch.autograd.grad((expected * weights).sum(), [encoder.state_params, x])
    for g, w in zip(grads, want):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)


@needs_cpu_kernel
@pytest.mark.parametrize("semiring", SEMIRINGS)
def test_encoder_float32_kernel_matches_torch_path(semiring):
    """float32: the kernel's own vectorized sigmoid agrees with torch's to float32 rounding."""
    tokens, mask = _batch([40, 17, 33], 6, dtype=torch.float32)
    results = []
    for name in ("cpp", "torch"):
        encoder = _encoder(lengths={"1": 2, "3": 3, "4": 2}, semiring=semiring, dim=6, backend_name=name,
                           dtype=torch.float32)
        results.append(_encoder_outputs(encoder, tokens * 3, mask))  # * 3: sigmoid over a wide range
    (out, grads, _), (want, want_grads, _) = results
    torch.testing.assert_close(out, want, rtol=2e-5, atol=2e-6)
    for g, w in zip(grads, want_grads):
        torch.testing.assert_close(g, w, rtol=2e-4, atol=2e-5)


@needs_cpu_kernel
@pytest.mark.parametrize("semiring", SEMIRINGS)
def test_every_instruction_set_variant_computes_the_same(semiring):
    """The fused layer's loops exist for AVX-512, AVX2 and baseline x86-64; all must agree exactly."""
    module, _ = _loader.load("cpu")
    best = module.set_max_isa(2)
    lengths = {"1": 3, "3": 5, "4": 6}  # 42 states in a row: long enough for the AVX-512 variant
    tokens, mask = _batch([30, 11, 24], 8, left_pad=True, dtype=torch.float32)
    results = []
    try:
        for level in range(best + 1):
            module.set_max_isa(level)
            encoder = _encoder(lengths=lengths, semiring=semiring, dim=8, backend_name="cpp", dtype=torch.float32)
            results.append(_encoder_outputs(encoder, tokens * 3, mask))
    finally:
        module.set_max_isa(2)
    (out, grads, _), others = results[0], results[1:]
    for other_out, other_grads, _ in others:
        assert torch.equal(other_out, out)
        assert all(torch.equal(g, w) for g, w in zip(other_grads, grads))


@needs_cpu_kernel
@pytest.mark.parametrize("semiring", SEMIRINGS)
def test_encoder_float32_close_to_float64(semiring):
    encoder = _encoder(lengths={"2": 3, "4": 3}, semiring=semiring, dim=6, backend_name="cpp")
    tokens, mask = _batch([30, 12, 25], 6)
    out64 = encoder(tokens, mask)
    out32 = encoder.float()(tokens.float(), mask)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32.double(), out64, rtol=1e-4, atol=1e-5)


@needs_cpu_kernel
@pytest.mark.parametrize("semiring", SEMIRINGS)
def test_encoder_gradcheck_float64(semiring):
    encoder = _encoder(lengths=[1, 3, 2], semiring=semiring, dim=3, backend_name="cpp")
    tokens, mask = _batch([4, 2], 3)
    params = encoder.state_params.detach().clone().requires_grad_(True)

    def run(x, p):
        return torch.func.functional_call(encoder, {"layers.0.0.state_params": p}, (x, mask))

    assert torch.autograd.gradcheck(run, (tokens.requires_grad_(True), params))


@needs_cpu_kernel
@pytest.mark.parametrize("semiring", SEMIRINGS)
@pytest.mark.parametrize("left_pad", [False, True])
def test_return_all_matches_torch_path(semiring, left_pad):
    tokens, mask = _batch([6, 2, 4], 5, left_pad=left_pad)
    results = {}
    for name in ("cpp", "torch"):
        encoder = _encoder(semiring=semiring, backend_name=name)
        x = tokens.clone().requires_grad_(True)
        final, history = encoder.single_layer.state_scores(x, mask, return_all=True)
        assert history.shape == (3, 6, encoder.num_wfsas, 4)
        finite = torch.isfinite(history)
        loss = final.where(torch.isfinite(final), 0).sum() + (history.where(finite, 0) * 0.5).sum()
        results[name] = (final, history, *torch.autograd.grad(loss, [x, encoder.state_params]))
    for g, w in zip(results["cpp"], results["torch"]):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)
    final, history = results["cpp"][:2]
    torch.testing.assert_close(history[:, -1], final, rtol=0, atol=0)  # padding carries the state


@needs_cpu_kernel
def test_inference_without_grad_matches():
    encoder = _encoder(backend_name="cpp")
    tokens, mask = _batch([5, 3], 5)
    with torch.no_grad():
        fast = encoder(tokens, mask)
    torch.testing.assert_close(fast, encoder(tokens, mask), rtol=0, atol=0)


# ----- denormals --------------------------------------------------------------------------------


def _long_decaying_input(name, steps=600):
    """Self-loops ~0.3 over hundreds of steps: backward gradients go deep into denormal range."""
    torch.manual_seed(0)
    encoder = RationalRnnEncoder(4, {"2": 3}, backend=name)
    with torch.no_grad():
        encoder.state_params[:, -1] = -0.8
    tokens = torch.randn(2, steps, 4) * 0.1
    return encoder, tokens


def _flushing_off_everywhere():
    module, _ = _loader.load("cpu")
    if module is not None:
        module.set_flush_denormals(False)
    torch.set_flush_denormal(False)
    denormals.forget()


@pytest.fixture
def restore_flush_mode():
    """Start with flushing off in every thread; afterwards the next recurrence applies it again."""
    _flushing_off_everywhere()
    yield
    denormals.set_enabled(None)
    _flushing_off_everywhere()


def _workers_flush() -> bool:
    """Whether EVERY thread of torch's pool flushes: one parallel op whose every result is 1e-39."""
    tiny = torch.full((1 << 20,), 1e-30, dtype=torch.float32) * 1e-9
    return bool((tiny == 0).all())


@pytest.mark.parametrize("name", [pytest.param("cpp", marks=needs_cpu_kernel), "torch"])
def test_denormal_flushing_changes_nothing_visible(name, restore_flush_mode):
    encoder, tokens = _long_decaying_input(name)
    results = []
    for flush in (True, False):
        denormals.set_enabled(flush)
        x = tokens.clone().requires_grad_(True)
        out = encoder(x)
        results.append((out, *torch.autograd.grad(out.sum(), [x, encoder.state_params])))
        assert denormals.thread_flushes() == flush  # applied, and undone when switched off
    for flushed, exact in zip(*results):
        torch.testing.assert_close(flushed, exact, rtol=1e-6, atol=1e-30)
    # the unflushed run really went through denormals (so the comparison above means something)
    token_grads = results[1][1].abs()
    assert ((token_grads > 0) & (token_grads < torch.finfo(torch.float32).tiny)).any()


@needs_cpu_kernel
def test_flushing_reaches_every_worker_thread(restore_flush_mode):
    assert not _workers_flush()
    _encoder(backend_name="auto")(*_batch([3, 2], 5))
    assert denormals.thread_flushes() and _workers_flush()
    denormals.set_enabled(False)
    _encoder(backend_name="auto")(*_batch([3, 2], 5))
    assert not denormals.thread_flushes() and not _workers_flush()


def test_flushing_never_undoes_the_callers_own_setting(restore_flush_mode):
    denormals.set_enabled(False)
    torch.set_flush_denormal(True)
    _encoder(backend_name="torch")(*_batch([3, 2], 5))
    assert denormals.thread_flushes()


# ----- backend choice and fallback --------------------------------------------------------------


def test_failed_import_falls_back_with_one_warning(monkeypatch):
    monkeypatch.setitem(sys.modules, _loader.MODULES["cpu"], None)  # `import` now raises ImportError
    tokens, mask = _batch([4, 2], 5)
    reference = _encoder(backend_name="torch")(tokens, mask)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encoder = _encoder(backend_name="auto")
        outputs = [encoder(tokens, mask) for _ in range(3)]
        outputs.append(_encoder(backend_name="auto", semiring="max_plus")(tokens, mask))
        wfsa_recurrence(*encoder.transition_weights(tokens), mask, get_semiring("plus_times"))
    fallbacks = [w for w in caught if issubclass(w.category, kernels.KernelFallbackWarning)]
    assert len(fallbacks) == 1, [str(w.message) for w in caught]
    assert "_wfsa_cpu" in str(fallbacks[0].message) and "PyTorch path" in str(fallbacks[0].message)
    for out in outputs[:3]:
        torch.testing.assert_close(out, reference, rtol=0, atol=0)
    assert "PyTorch path (fallback)" in kernels.describe("cpu")
    with pytest.raises(RuntimeError, match="backend 'cpp' was requested"):
        _encoder(backend_name="cpp")(tokens, mask)


def test_stale_build_is_reported_and_skipped(monkeypatch):
    stale = types.ModuleType(_loader.MODULES["cpu"])
    stale.__file__ = "/somewhere/_wfsa_cpu.so"
    stale.KERNEL_VERSION = _loader.KERNEL_VERSION - 1
    monkeypatch.setitem(sys.modules, _loader.MODULES["cpu"], stale)
    tokens, mask = _batch([4, 2], 5)
    with pytest.warns(kernels.KernelFallbackWarning, match="stale"):
        out = _encoder(backend_name="auto")(tokens, mask)
    torch.testing.assert_close(out, _encoder(backend_name="torch")(tokens, mask), rtol=0, atol=0)


def test_status_command(capsys):
    from rrnn_plugin.kernels.__main__ import main

    status = main([])
    printed = capsys.readouterr().out
    assert status == 0 and "cpu:" in printed and "RRNN_BACKEND" in printed
    if CPU_BUILT:
        assert "compiled kernel" in printed and main(["--check"]) == 0


def test_forcing_torch_never_touches_the_kernel(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("kernel called although the PyTorch path was forced")

    monkeypatch.setattr("rrnn_plugin.modules.recurrence.kernel_layer", refuse)
    monkeypatch.setattr("rrnn_plugin.modules.recurrence.kernel_recurrence", refuse)
    tokens, mask = _batch([4, 2], 5)
    _encoder(backend_name="torch")(tokens, mask)  # by config
    monkeypatch.setenv(backend.ENV_VAR, "torch")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # forcing torch is a choice: no warning
        _encoder(backend_name="auto")(tokens, mask)  # by environment


@needs_cpu_kernel
def test_backend_precedence(monkeypatch):
    calls = []
    real_layer = kernels.function.kernel_layer

    def spy(*args, **kwargs):
        calls.append(1)
        return real_layer(*args, **kwargs)

    monkeypatch.setattr("rrnn_plugin.modules.recurrence.kernel_layer", spy)
    tokens, mask = _batch([4, 2], 5)
    _encoder(backend_name="auto")(tokens, mask)
    assert calls == [1]  # auto picks the kernel when it is there
    monkeypatch.setenv(backend.ENV_VAR, "torch")
    _encoder(backend_name="auto")(tokens, mask)
    assert calls == [1]  # the environment overrides auto
    _encoder(backend_name="cpp")(tokens, mask)
    assert calls == [1, 1]  # ... but not an explicit config value
    assert "compiled kernel" in kernels.describe("cpu", "cpp")
    monkeypatch.setenv(backend.ENV_VAR, "gpu-please")
    with pytest.raises(ValueError, match="RRNN_BACKEND"):
        _encoder(backend_name="auto")(tokens, mask)


def test_backend_config_value():
    encoder = Seq2VecEncoder.from_params(Params({
        "type": "rational_rnn", "input_dim": 4, "wfsa_lengths": [2, 1], "backend": "torch"}))
    assert encoder(torch.randn(2, 3, 4)).shape == (2, 2)
    with pytest.raises(ConfigurationError, match="backend"):
        RationalRnnEncoder(4, [1], backend="fortran")


@needs_cpu_kernel
def test_unsupported_dtype_uses_torch_path_under_auto():
    tokens, mask = _batch([3, 2], 5, dtype=torch.bfloat16)
    encoder = _encoder(backend_name="auto", dtype=torch.bfloat16)
    assert encoder(tokens, mask).dtype == torch.bfloat16
    with pytest.raises(RuntimeError, match="cannot take these inputs"):
        _encoder(backend_name="cpp", dtype=torch.bfloat16)(tokens, mask)


# ----- CUDA (not run without a GPU) --------------------------------------------------------------


@needs_gpu
@pytest.mark.parametrize("semiring", SEMIRINGS)
@pytest.mark.parametrize("return_all", [False, True])
def test_cuda_kernel_matches_cpu(semiring, return_all):
    module, error = _loader.load("cuda")
    assert module is not None, error
    u, f, mask = _grid_inputs(semiring, batch=5, steps=40, wfsas=6, width=4)
    want = _run_grid(u, f, mask, semiring, "torch", return_all)
    got = _run_grid(u.cuda(), f.cuda(), mask.cuda(), semiring, "cpp", return_all)
    for g, w in zip(got, want):
        torch.testing.assert_close(g.cpu(), w, rtol=1e-10, atol=1e-12)


@needs_gpu
def test_cuda_encoder_matches_cpu():
    tokens, mask = _batch([7, 3, 1, 5], 5)
    cpu = _encoder(backend_name="torch")
    gpu = _encoder(backend_name="cpp").cuda()
    got = _encoder_outputs(gpu, tokens.cuda(), mask.cuda())
    want = _encoder_outputs(cpu, tokens, mask)
    torch.testing.assert_close(got[0].cpu(), want[0], rtol=1e-10, atol=1e-12)
    for g, w in zip(got[1], want[1]):
        torch.testing.assert_close(g.cpu(), w, rtol=1e-9, atol=1e-12)


def test_a_truncated_library_is_detected_before_loading(tmp_path, monkeypatch):
    """Loading a truncated .so would kill the process (SIGBUS); it must be refused, with the reason,
    and the PyTorch path used."""
    import importlib.util

    built = importlib.util.find_spec(_loader.MODULES["cpu"]).origin
    package = tmp_path / "brokenkernels"
    package.mkdir()
    (package / "__init__.py").write_text("")
    data = Path(built).read_bytes()
    (package / Path(built).name).write_bytes(data[: len(data) // 2])
    (package / "_notelf.cpython-311-x86_64-linux-gnu.so").write_bytes(b"not a library at all" * 10)
    monkeypatch.syspath_prepend(str(tmp_path))
    name = "brokenkernels." + Path(built).name.split(".")[0]
    assert "truncated" in _loader._file_problem(name)
    assert "not a 64-bit" in _loader._file_problem("brokenkernels._notelf")
    assert _loader._file_problem(_loader.MODULES["cpu"]) is None or _loader.MODULES["cpu"] in sys.modules
    monkeypatch.setitem(_loader.MODULES, "cpu", name)
    _loader.reset()
    try:
        module, reason = _loader.load("cpu")
        assert module is None and "truncated" in reason
    finally:
        monkeypatch.undo()
        _loader.reset()
