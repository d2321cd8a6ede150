import pytest
import torch
from allennlp.common import Params
from allennlp.modules.seq2vec_encoders import Seq2VecEncoder

from rrnn_plugin.encoders import RationalRnnEncoder
from rrnn_plugin.modules import ConfigurationError, expand_wfsa_lengths
from tests.reference_wfsa import reference_document_scores

SEMIRINGS = ["plus_times", "max_plus", "max_times"]
MIXED = {"1": 2, "2": 1, "3": 2, "4": 1}


def _batch(lengths, dim, left_pad=False, seed=0):
    """Random padded batch: pad positions hold garbage (not zeros) to prove masking works."""
    gen = torch.Generator().manual_seed(seed)
    steps = max(lengths)
    tokens = torch.randn(len(lengths), steps, dim, generator=gen, dtype=torch.float64)
    mask = torch.zeros(len(lengths), steps, dtype=torch.bool)
    for b, n in enumerate(lengths):
        if left_pad:
            mask[b, steps - n:] = True
        else:
            mask[b, :n] = True
    return tokens, mask


def _encoder(lengths=MIXED, semiring="plus_times", dim=5, seed=1):
    torch.manual_seed(seed)
    encoder = RationalRnnEncoder(dim, lengths, semiring=semiring).double()
    with torch.no_grad():  # non-zero biases so they matter in the comparison
        encoder.state_params[:, -1].uniform_(-1, 1)
    return encoder


def test_expand_lengths():
    assert expand_wfsa_lengths({"2": 1, "1": 2, "10": 1}) == [1, 1, 2, 10]
    assert expand_wfsa_lengths([3, 1]) == [3, 1]
    with pytest.raises(ConfigurationError):
        expand_wfsa_lengths([2, 0])


@pytest.mark.parametrize("semiring", SEMIRINGS)
@pytest.mark.parametrize("left_pad", [False, True])
def test_matches_reference_forward_and_gradients(semiring, left_pad):
    encoder = _encoder(semiring=semiring)
    lengths = [7, 3, 1, 5]
    tokens, mask = _batch(lengths, encoder.get_input_dim(), left_pad=left_pad)
    tokens.requires_grad_(True)
    out = encoder(tokens, mask)
    expected = torch.stack([reference_document_scores(encoder, tokens[b][mask[b]]) for b in range(len(lengths))])
    assert out.shape == (4, encoder.num_wfsas)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)

    weights = torch.randn_like(out)
    got = torch.autograd.grad((out * weights).sum(), [encoder.state_params, tokens])
    want = torch.autograd.grad((expected * weights).sum(), [encoder.state_params, tokens])
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)
    assert got[1][~mask].abs().max() == 0  # padding never influences the output


@pytest.mark.parametrize("semiring", SEMIRINGS)
def test_padded_document_scores_what_it_scores_alone(semiring):
    encoder = _encoder(semiring=semiring)
    tokens, mask = _batch([6, 2], encoder.get_input_dim())
    together = encoder(tokens, mask)
    alone = encoder(tokens[1:, :2], mask[1:, :2])
    torch.testing.assert_close(together[1:], alone, rtol=0, atol=1e-12)


def test_gradcheck_float64():
    encoder = _encoder(lengths=[1, 3, 2], dim=3)
    tokens, mask = _batch([4, 2], 3)
    tokens.requires_grad_(True)
    params = encoder.state_params.detach().clone().requires_grad_(True)

    def run(x, p):
        return torch.func.functional_call(encoder, {"layers.0.0.state_params": p}, (x, mask))

    assert torch.autograd.gradcheck(run, (tokens, params))


def test_counts_and_registration():
    encoder = Seq2VecEncoder.from_params(Params({
        "type": "rational_rnn", "input_dim": 4, "wfsa_lengths": {"1": 6, "2": 6, "3": 6, "4": 6}}))
    assert isinstance(encoder, RationalRnnEncoder)
    assert encoder.num_wfsas == encoder.get_output_dim() == 24
    assert encoder.num_transitions == 60
    assert encoder.num_parameters == 60 * (2 * 4 + 1)
    listed = Seq2VecEncoder.from_params(Params({"type": "rational_rnn", "input_dim": 4, "wfsa_lengths": [2, 1]}))
    assert listed.wfsa_lengths == [2, 1]


def test_initialization_range():
    encoder = RationalRnnEncoder(300, {"4": 24})
    bound = (6.0 / (300 + 24)) ** 0.5
    weights = torch.cat([encoder.main_weights, encoder.loop_weights], dim=1)
    assert weights.abs().max() <= bound
    assert weights.abs().max() > 0.9 * bound
    assert torch.all(encoder.loop_bias == 0)


def test_bad_config_is_a_clear_error():
    with pytest.raises(ConfigurationError, match="semiring"):
        RationalRnnEncoder(4, [1], semiring="min_plus")


def test_no_wfsa_left_outputs_empty_vector():
    # what pruning leaves when every state is gone: the explicit per-layer form allows it ...
    encoder = RationalRnnEncoder(4, layer_wfsa_lengths=[[[]]])
    out = encoder(torch.randn(2, 3, 4), torch.ones(2, 3, dtype=torch.bool))
    assert out.shape == (2, 0)
    assert "layer_wfsa_lengths" in encoder.config()  # and rebuilds in that form
    # ... but a configured encoder with no WFSA at all is a mistake
    for lengths in ([], {}, {"2": 0}):
        with pytest.raises(ConfigurationError, match="gives no WFSA"):
            RationalRnnEncoder(4, lengths)


def test_group_norms_cover_exactly_the_state_parameters():
    encoder = _encoder(lengths=[2, 1], dim=3)
    norms = encoder.state_group_norms()
    for s in range(3):
        group = torch.cat([encoder.main_weights[s], encoder.loop_weights[s], encoder.loop_bias[s:s + 1]])
        assert group.numel() == 2 * 3 + 1
        torch.testing.assert_close(norms[s], group.norm())
    with torch.no_grad():
        encoder.state_params[1].zero_()
    encoder.state_group_norms().sum().backward()
    assert torch.isfinite(encoder.state_params.grad).all()


@pytest.mark.parametrize("semiring", SEMIRINGS)
def test_non_finite_inputs_are_refused_not_hidden(semiring):
    from rrnn_plugin.modules import NonFiniteInputError

    tokens, mask = _batch([4, 2], dim=5)
    encoder = _encoder(semiring=semiring)
    clean = encoder(tokens, mask)
    assert torch.isfinite(clean).all()
    garbage = tokens.clone()
    garbage[1, 3] = float("nan")  # a padding position: never read
    assert torch.equal(encoder(garbage, mask), clean)
    for value in (float("nan"), float("inf")):
        broken = tokens.clone()
        broken[1, 1, 2] = value
        with pytest.raises(NonFiniteInputError, match="batch item 1, token 1"):
            encoder(broken, mask)


def test_max_plus_reports_zero_only_where_no_path_exists():
    # a WFSA of 4 states reads a 2-token document: in max-plus, states 3 and 4 have no path (-inf),
    # the WFSA's score is the max over its states, which is finite; a document of no tokens gives 0
    tokens, mask = _batch([2, 1], dim=5)
    mask[1] = False
    out = _encoder(lengths={"4": 1}, semiring="max_plus")(tokens, mask)
    assert torch.isfinite(out).all() and out[1].abs().max() == 0
