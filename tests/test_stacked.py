"""The Seq2Seq form, bidirectional and stacked layers, and pruning them (issue: composing the encoder).

References are written from the definitions, one document at a time, with no padding:
h(t) of the forward WFSAs is the score of the prefix x_1..x_t, h(t) of the backward WFSAs the score
of the reversed suffix x_T..x_t, and layer l+1 reads [forward, backward] of layer l at every token.
"""
import copy
import glob
import os

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.modules.seq2seq_encoders import Seq2SeqEncoder
from allennlp.modules.seq2vec_encoders import Seq2VecEncoder

import rrnn_plugin  # noqa: F401
import rrnn_plugin.kernels as kernels
from rrnn_plugin.encoders import RationalRnnEncoder, RationalRnnSeq2SeqEncoder
from rrnn_plugin.modules import ConfigurationError as CoreConfigurationError
from rrnn_plugin.modules import WfsaLayer
from rrnn_plugin.training import StateGroupLasso, prune_classifier, pruned_config, structure_report
from rrnn_plugin.visualization.phrases import find_encoder
from rrnn_plugin.visualization.structure import structure_from_json
from tests.reference_wfsa import reference_document_scores
from tests.test_rational_rnn import _batch  # random padded batch, garbage in the padding

SEMIRINGS = ["plus_times", "max_plus", "max_times"]
MIXED = {"1": 1, "2": 1, "3": 1}
CPU_BUILT = bool(glob.glob(os.path.join(os.path.dirname(kernels.__file__), "_wfsa_cpu*")))
BACKENDS = ["torch", pytest.param("cpp", marks=pytest.mark.skipif(not CPU_BUILT, reason="C++ kernel not built"))]


def _encoder(cls=RationalRnnSeq2SeqEncoder, semiring="plus_times", backend="torch", dim=4, seed=3, **kwargs):
    torch.manual_seed(seed)
    options = dict(num_layers=2, bidirectional=True, dropout=0.3)
    options.update(kwargs)
    encoder = cls(dim, MIXED, semiring=semiring, backend=backend, **options).double().eval()
    with torch.no_grad():
        for layer in encoder.wfsa_layers():
            layer.state_params[:, -1].uniform_(-1, 1)
    return encoder


def reference_steps(encoder, document: torch.Tensor) -> torch.Tensor:
    """document (n, D) of real tokens -> the top layer's h(t) for every t, (n, output_dim)."""
    x = document
    n = len(document)
    for directions in encoder.layers:
        outputs = []
        for direction, layer in enumerate(directions):
            if direction == 0:
                h = [reference_document_scores(layer, x[: t + 1]) for t in range(n)]
            else:
                h = [reference_document_scores(layer, x[t:].flip(0)) for t in range(n)]
            outputs.append(torch.stack(h))
        x = torch.cat(outputs, dim=-1)
    return x


# ----- the two forms --------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("semiring", SEMIRINGS)
@pytest.mark.parametrize("left_pad", [False, True])
def test_stacked_bidirectional_matches_reference(backend, semiring, left_pad):
    encoder = _encoder(semiring=semiring, backend=backend)
    lengths = [5, 2, 4]
    tokens, mask = _batch(lengths, 4, left_pad=left_pad)
    tokens.requires_grad_(True)
    out = encoder(tokens, mask)
    assert out.shape == (3, 5, encoder.get_output_dim()) and encoder.get_output_dim() == 6
    expected = torch.zeros_like(out)
    for b in range(3):
        expected[b][mask[b]] = reference_steps(encoder, tokens[b][mask[b]])
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)
    assert out[~mask].abs().max() == 0, "padding positions output zeros"

    weights = torch.randn_like(out)
    params = [layer.state_params for layer in encoder.wfsa_layers()] + [tokens]
    got = torch.autograd.grad((out * weights).sum(), params)
    want = torch.autograd.grad((expected * weights).sum(), params)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)
    assert got[-1][~mask].abs().max() == 0, "padding tokens never influence the output"


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_float64(backend):
    encoder = _encoder(backend=backend, dim=3)
    tokens, mask = _batch([4, 2], 3)
    params = {name: p.detach().clone().requires_grad_(True) for name, p in encoder.named_parameters()}
    names = list(params)

    def run(x, *values):
        return torch.func.functional_call(encoder, dict(zip(names, values)), (x, mask))

    assert torch.autograd.gradcheck(run, (tokens.requires_grad_(True), *params.values()))


@pytest.mark.parametrize("semiring", SEMIRINGS)
def test_seq2vec_is_seq2seq_at_the_last_and_first_real_token(semiring):
    lengths = [6, 3, 1]
    for left_pad in (False, True):
        tokens, mask = _batch(lengths, 4, left_pad=left_pad, seed=4)
        positions = torch.arange(6).expand(3, 6)
        last = torch.where(mask, positions, -1).max(1).values
        first = torch.where(mask, positions, 99).min(1).values
        rows = torch.arange(3)
        # one layer, forward only: the paper's setting
        seq2seq = _encoder(semiring=semiring, num_layers=1, bidirectional=False)
        seq2vec = _encoder(RationalRnnEncoder, semiring=semiring, num_layers=1, bidirectional=False)
        seq2vec.load_state_dict(seq2seq.state_dict())
        torch.testing.assert_close(seq2vec(tokens, mask), seq2seq(tokens, mask)[rows, last], rtol=0, atol=0)
        # stacked, bidirectional: forward half at the last real token, backward half at the first
        seq2seq, seq2vec = _encoder(semiring=semiring), _encoder(RationalRnnEncoder, semiring=semiring)
        seq2vec.load_state_dict(seq2seq.state_dict())
        steps, vector = seq2seq(tokens, mask), seq2vec(tokens, mask)
        torch.testing.assert_close(vector[:, :3], steps[rows, last, :3], rtol=0, atol=0)
        torch.testing.assert_close(vector[:, 3:], steps[rows, first, 3:], rtol=0, atol=0)


def test_padding_side_and_content_do_not_matter():
    encoder = _encoder()
    right, mask_right = _batch([5, 2], 4)
    left = torch.zeros_like(right)
    left[0] = right[0]
    left[1, 3:] = right[1, :2]
    left[1, :3] = 7.0  # garbage in the padding
    mask_left = torch.zeros_like(mask_right)
    mask_left[0] = True
    mask_left[1, 3:] = True
    out_right, out_left = encoder(right, mask_right), encoder(left, mask_left)
    torch.testing.assert_close(out_left[1, 3:], out_right[1, :2], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out_left[0], out_right[0], rtol=0, atol=0)


def test_dropout_between_layers_only_in_training():
    encoder = _encoder(dropout=0.5)
    tokens, mask = _batch([5, 3], 4)
    assert torch.equal(encoder(tokens, mask), encoder(tokens, mask))
    encoder.train()
    torch.manual_seed(0)
    a = encoder(tokens, mask)
    torch.manual_seed(1)
    assert not torch.equal(a, encoder(tokens, mask))


def test_from_params_shapes_and_names():
    params = {"type": "rational_rnn", "input_dim": 4, "wfsa_lengths": {"2": 3, "4": 1},
              "num_layers": 2, "bidirectional": True, "dropout": 0.2}
    seq2seq = Seq2SeqEncoder.from_params(Params(dict(params)))
    seq2vec = Seq2VecEncoder.from_params(Params(dict(params)))
    assert isinstance(seq2seq, RationalRnnSeq2SeqEncoder) and isinstance(seq2vec, RationalRnnEncoder)
    for encoder in (seq2seq, seq2vec):
        assert encoder.is_bidirectional() and encoder.get_output_dim() == 8
        assert encoder.structure == [[[2, 2, 2, 4]] * 2] * 2
        assert encoder.num_transitions == 4 * 10 and encoder.num_wfsas == 16
        assert [layer.get_input_dim() for layer in encoder.wfsa_layers()] == [4, 4, 8, 8]
        assert [n for n, _ in encoder.named_parameters()] == [
            f"layers.{l}.{d}.state_params" for l in (0, 1) for d in (0, 1)
        ]
    # an explicit (pruned) structure, a direction may be empty
    explicit = RationalRnnSeq2SeqEncoder(4, layer_wfsa_lengths=[[[1, 2], []], [[3], [1, 1]]],
                                         num_layers=2, bidirectional=True)
    assert explicit.get_output_dim() == 3 and explicit.layers[1][0].get_input_dim() == 2
    out = explicit(torch.randn(2, 3, 4), torch.ones(2, 3, dtype=torch.bool))
    assert out.shape == (2, 3, 3) and torch.isfinite(out).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"wfsa_lengths": [1], "layer_wfsa_lengths": [[[1]]]}, "exactly one of"),
        ({}, "exactly one of"),
        ({"layer_wfsa_lengths": [[[1]]], "num_layers": 2}, "must list 2 layer"),
        ({"layer_wfsa_lengths": [[[1]]], "bidirectional": True}, "2 direction"),
        ({"wfsa_lengths": [1], "num_layers": 0}, "num_layers"),
        ({"wfsa_lengths": [1], "dropout": 1.0}, "dropout"),
    ],
)
def test_bad_options_are_configuration_errors(kwargs, message):
    with pytest.raises(CoreConfigurationError, match=message):
        RationalRnnEncoder(4, **kwargs)


def test_archives_from_before_stacking_still_load():
    encoder = RationalRnnEncoder(4, [2, 1])
    old = {"state_params": torch.randn(3, 9)}
    encoder.load_state_dict(old)
    assert torch.equal(encoder.state_params, old["state_params"])
    assert isinstance(encoder.single_layer, WfsaLayer)
    with pytest.raises(CoreConfigurationError, match="one-layer unidirectional"):
        _encoder().state_params


# ----- group lasso and pruning of composed models ------------------------------------------------
VOCAB_WORDS = ["good", "bad", "great", "awful", "fine", "meh", "the", "a"]


def _vocab():
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(VOCAB_WORDS, "tokens")
    vocab.add_tokens_to_namespace(["neg", "pos"], "labels")
    return vocab


def _tokens(seed=0):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, 2 + len(VOCAB_WORDS), (4, 6), generator=gen)
    ids[1, 4:] = 0
    ids[3, 2:] = 0
    return {"tokens": {"tokens": ids}}


EMBEDDER = {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 5}}}
STACKED = {"type": "rational_rnn", "input_dim": 5, "wfsa_lengths": {"1": 2, "3": 2},
           "num_layers": 2, "bidirectional": True, "dropout": 0.1}
MODELS = {
    "bidirectional_2layer": {"type": "rational_classifier", "text_field_embedder": EMBEDDER,
                             "seq2vec_encoder": STACKED},
    "seq2seq_boe": {"type": "rational_classifier", "text_field_embedder": EMBEDDER,
                    "seq2seq_encoder": STACKED,
                    "seq2vec_encoder": {"type": "boe", "embedding_dim": 8, "averaged": True}},
    "seq2seq_cnn_feedforward": {
        "type": "basic_classifier", "text_field_embedder": EMBEDDER, "seq2seq_encoder": STACKED,
        "seq2vec_encoder": {"type": "cnn", "embedding_dim": 8, "num_filters": 3, "ngram_filter_sizes": [1, 2]},
        "feedforward": {"input_dim": 6, "num_layers": 1, "hidden_dims": 4, "activations": "tanh"},
    },
    "seq2seq_into_seq2vec_rrnn": {
        "type": "rational_classifier", "text_field_embedder": EMBEDDER, "seq2seq_encoder": STACKED,
        "seq2vec_encoder": {"type": "rational_rnn", "input_dim": 8, "wfsa_lengths": [2, 2, 1]},
    },
    "tagger": {"type": "simple_tagger", "text_field_embedder": EMBEDDER, "encoder": STACKED,
               "label_namespace": "labels"},
}


def _model(name):
    torch.manual_seed(0)
    model = Model.from_params(vocab=_vocab(), params=Params(copy.deepcopy(MODELS[name]))).eval()
    for module in model.modules():
        if isinstance(module, WfsaLayer):
            with torch.no_grad():
                module.state_params[:, -1].uniform_(-1, 1)
    return model


def _logits(model):
    with torch.no_grad():
        return model(tokens=_tokens())["logits"]


def _rrnn(model):
    return model.encoder if hasattr(model, "encoder") else (model._seq2seq_encoder or model._seq2vec_encoder)


def _zero_some_states(encoder):
    """Layer 0 forward: WFSA 1 removed, WFSA 3 keeps 1 of 3 states; layer 1 backward: WFSA 0
    removed; layer 1 forward: WFSA 2 keeps 2 of 3.  Plus-times: zero rows score zero."""
    with torch.no_grad():
        encoder.layers[0][0].state_params[1] = 0.0  # flat rows: WFSA0 s0, WFSA1 s0, WFSA2 s0-2, WFSA3 s0-2
        encoder.layers[0][0].state_params[6] = 0.0
        encoder.layers[1][1].state_params[0] = 0.0
        encoder.layers[1][0].state_params[4] = 0.0
    return [[[1, 0, 3, 1], [1, 1, 3, 3]], [[1, 1, 2, 3], [0, 1, 3, 3]]]


@pytest.mark.parametrize("name", list(MODELS))
def test_eps_zero_pruning_is_the_identity(name):
    model = _model(name)
    expected_kept = _zero_some_states(_rrnn(model))
    before = _logits(model)
    pruned, report = prune_classifier(model, eps=0.0)
    kept = report.kept[[a for a in report.kept][0]]
    assert kept == expected_kept
    assert report.transitions_before == 32 + (5 if name == "seq2seq_into_seq2vec_rrnn" else 0)
    assert report.transitions_after == report.transitions_before - 5
    torch.testing.assert_close(_logits(pruned), before, rtol=1e-5, atol=1e-6)
    new = _rrnn(pruned)
    # layer 1 reads 7 features (4 - 1 forward, 4 backward): columns of w and v of the removed one go
    assert [layer.get_input_dim() for layer in new.wfsa_layers()] == [5, 5, 7, 7]
    old_row = _rrnn(model).layers[1][0].state_params[0]
    keep = [0, 2, 3, 4, 5, 6, 7]
    expected_row = torch.cat([old_row[:8][keep], old_row[8:16][keep], old_row[16:]])
    assert torch.equal(new.layers[1][0].state_params[0], expected_row)
    assert new.get_output_dim() == 7
    # the rewritten config rebuilds exactly this shape, and the pruned weights load into it
    config = pruned_config({"model": copy.deepcopy(MODELS[name])}, report)
    rebuilt = Model.from_params(vocab=_vocab(), params=Params(config["model"])).eval()
    rebuilt.load_state_dict(pruned.state_dict())
    torch.testing.assert_close(_logits(rebuilt), before, rtol=1e-5, atol=1e-6)
    assert report.trainable_parameters_after == sum(p.numel() for p in pruned.parameters() if p.requires_grad)


def test_readers_shrink_with_the_top_layer():
    model = _model("seq2seq_boe")
    _zero_some_states(model._seq2seq_encoder)
    pruned, report = prune_classifier(model, eps=0.0)
    assert pruned._seq2vec_encoder.get_input_dim() == pruned._seq2vec_encoder.get_output_dim() == 7
    assert pruned._classification_layer.in_features == 7
    assert report.config_updates["seq2vec_encoder"] == {"embedding_dim": 7}
    tagger = _model("tagger")
    _zero_some_states(tagger.encoder)
    pruned, report = prune_classifier(tagger, eps=0.0)
    assert pruned.tag_projection_layer._module.in_features == 7
    assert report.classifier_parameters_before - report.classifier_parameters_after == 2
    assert structure_report(tagger, eps=1e9).transitions_after == 0  # reporting it is fine ...
    with pytest.raises(ConfigurationError, match="TimeDistributed cannot run on 0 features"):
        prune_classifier(tagger, eps=1e9)  # ... running it is not
    everything, report = prune_classifier(_model("bidirectional_2layer"), eps=1e9)
    assert report.transitions_after == 0 and everything._classification_layer.in_features == 0
    out = _logits(everything)
    torch.testing.assert_close(out, everything._classification_layer.bias.expand_as(out))


def test_group_lasso_groups_every_layer_and_direction():
    model = _model("bidirectional_2layer")
    encoder = model._seq2vec_encoder
    penalty = StateGroupLasso(alpha=0.5)
    total = sum(penalty(p) for n, p in model.named_parameters() if n.endswith("state_params"))
    expected = 0.5 * sum(float(row.norm()) for layer in encoder.wfsa_layers() for row in layer.state_params)
    assert float(total) == pytest.approx(expected, rel=1e-6)
    assert len(encoder.state_group_norms()) == 4 * 8  # (layer, direction) x states
    report = structure_report(model, eps=0.0)
    assert len(report.to_json()["encoders"][0]["layers"]) == 4
    # the single-layer tools say what they cannot show, instead of misreading the structure
    with pytest.raises(ValueError, match="this structure has 4 .*layer 1 backward"):
        structure_from_json(report.to_json(), "learned_structure.json")
    with pytest.raises(ValueError, match="2 layer"):
        find_encoder(model)


def test_pruning_does_not_move_the_random_stream():
    encoder = _encoder()
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    encoder.pruned([[[1, 0, 3], [1, 1, 1]], [[1, 2, 0], [0, 0, 1]]])
    assert torch.equal(torch.rand(3), expected), "pruning mid-training must not change later dropout masks"
